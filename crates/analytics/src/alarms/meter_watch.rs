//! The incremental half of the alarm engine: which meters a pass looks at.
//!
//! The meter alarms (`calibration_*`, `missing_data`) of a meter are a function of its registry
//! record, its progress and "now" (the finalized block's time). A pass therefore needs to look
//! again only at
//!
//! - the meters the blocks since the last pass touched (a recorded reading, a registry
//!   transaction naming the meter), which the finalizer hands over as a [`TouchedFeed`]; and
//! - the meters whose answer changes by the passing of time alone, at the time it changes: a
//!   certificate entering the warning window or expiring, its "expires in N days" text moving on,
//!   a meter falling silent. Each meter's next such time is kept per progress chunk (the state's
//!   own grouping of 256 of a gateway's meters), in a queue ordered by the chunk's earliest one.
//!
//! Anything the feed does not cover exactly — the first pass, a height it skipped, more than
//! [`MAX_FEED_METERS`] touched meters waiting — makes the pass walk every meter instead (what
//! every pass did before). So a pass costs what changed, not what exists, and its result is the
//! same as a walk's; a seeded test checks that after every block.
//!
//! Memory at national scale (10⁷ meters): 8 bytes per meter for its next time (grouped by chunk,
//! ~80 MB), the held alarms (at most [`MAX_HELD_METER_ALARMS`]) and the meters that reported in
//! the current hour, for the anomaly rule (at most [`MAX_ANOMALY_CANDIDATES`]).

use super::{
    AlarmKind, AlarmView, DAY_MS, MAX_ACTIVE_ALARMS, MISSING_DATA_INTERVALS, Severity, calibration_alarm,
    missing_data_alarm,
};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use trustmeter_energy::calendar::{self, Period};
use trustmeter_state::{MeterProgress, State};
use trustmeter_types::registry::METERS_PER_PROGRESS_CHUNK;
use trustmeter_types::{Block, DeviceId, DeviceStatus, Meter, TxPayload};

/// Most touched meters the feed holds between two passes (about 60 MB of ids). Beyond it the feed
/// is dropped and the next pass walks every meter.
pub const MAX_FEED_METERS: usize = 1 << 20;
/// Most meter alarms the engine holds: the active set's own limit. Beyond it the least urgent are
/// not held, and their meters are looked at again every pass until there is room (a walk's cost,
/// but only while more than this many meter alarms are active).
pub const MAX_HELD_METER_ALARMS: usize = MAX_ACTIVE_ALARMS;
/// Most meters the anomaly rule considers per hour (the meters that reported in it, in the order
/// their readings were seen). The rule's own budget ([`super::MAX_SERIES_READS_PER_PASS`]) covers
/// fewer than this in an hour anyway.
pub const MAX_ANOMALY_CANDIDATES: usize = 1 << 18;

/// "No time": only a change to the meter changes its alarms.
const NEVER: i64 = i64::MAX;

/// The meters a block touched: those of its readings and of its registry transactions. A
/// transaction the block refused is listed too (looking at a meter again is always safe).
pub fn touched_meters(block: &Block) -> Vec<DeviceId> {
    let mut out = Vec::new();
    for tx in &block.txs {
        match &tx.body.payload {
            TxPayload::SubmitReadings { readings, .. } => out.extend(readings.iter().map(|r| r.reading.meter.clone())),
            TxPayload::RegisterMeter { meter } => out.push(meter.id.clone()),
            TxPayload::RecordCalibration { meter, .. } | TxPayload::ReplaceMeter { meter, .. } => {
                out.push(meter.clone())
            }
            TxPayload::ActivateDevice { device }
            | TxPayload::RevokeDevice { device, .. }
            | TxPayload::RotateKey { device, .. } => out.push(device.clone()),
            TxPayload::RegisterAccount { .. }
            | TxPayload::RevokeAccount { .. }
            | TxPayload::Propose { .. }
            | TxPayload::Approve { .. }
            | TxPayload::Grant { .. }
            | TxPayload::RevokeGrant { .. }
            | TxPayload::SetDisclosure { .. }
            | TxPayload::PublishFigures { .. }
            | TxPayload::RegisterGateway { .. }
            | TxPayload::DeployPolicy { .. }
            | TxPayload::DeployMethodology { .. }
            | TxPayload::RecordCarbonEntry { .. }
            | TxPayload::SetCarbonPlan { .. }
            | TxPayload::VoidCarbonEntry { .. }
            | TxPayload::SubmitCarbonReport { .. }
            | TxPayload::Verification { .. }
            | TxPayload::Quota { .. }
            | TxPayload::Transfer { .. }
            | TxPayload::Staking { .. }
            | TxPayload::DeployRewardSchedule { .. }
            | TxPayload::SetShiftCalendar { .. }
            | TxPayload::RecordShiftOutput { .. }
            | TxPayload::MonthlyReport { .. } => {}
        }
    }
    out
}

/// The meters finalized blocks touched, by height, until a pass takes them. Bounded
/// ([`MAX_FEED_METERS`]); when it overflows it forgets everything and says so, and the next pass
/// walks every meter.
#[derive(Debug, Default)]
pub(crate) struct TouchedFeed {
    blocks: VecDeque<(u64, Vec<DeviceId>)>,
    meters: usize,
    lost: bool,
}

impl TouchedFeed {
    /// Records the meters block `height` touched. A height at or below the last one recorded is a
    /// redelivery and ignored.
    pub(crate) fn push(&mut self, height: u64, meters: Vec<DeviceId>) {
        if self.lost || self.blocks.back().is_some_and(|(h, _)| *h >= height) {
            return;
        }
        self.meters += meters.len();
        self.blocks.push_back((height, meters));
        if self.meters > MAX_FEED_METERS {
            tracing::info!(
                meters = self.meters,
                "alarm feed overflowed (the engine fell behind); the next pass looks at every meter"
            );
            *self = TouchedFeed { lost: true, ..TouchedFeed::default() };
        }
    }

    /// The meters touched at heights `after + 1 ..= upto`, if the feed holds exactly those heights
    /// (`None`: the pass must walk every meter). Heights above `upto` stay for the next pass.
    pub(crate) fn take(&mut self, after: Option<u64>, upto: u64) -> Option<Vec<DeviceId>> {
        let lost = std::mem::take(&mut self.lost);
        let mut out = Vec::new();
        let mut next = after.map(|a| a + 1);
        let mut whole = !lost;
        while self.blocks.front().is_some_and(|(h, _)| *h <= upto) {
            let (h, ids) = self.blocks.pop_front().expect("checked");
            self.meters -= ids.len();
            match next {
                Some(n) if h < n => {} // already covered by an earlier pass
                Some(n) if h == n => {
                    next = Some(n + 1);
                    out.extend(ids);
                }
                _ => whole = false,
            }
        }
        (whole && next == Some(upto + 1)).then_some(out)
    }
}

/// When `m`'s calibration alarm ([`calibration_alarm`]) next changes by time alone, given the
/// block time `now` and the warning window ([`NEVER`]: only a change to the meter changes it).
pub(crate) fn calibration_due(m: &Meter, now: i64, window: i64) -> i64 {
    if m.status == DeviceStatus::Revoked {
        return NEVER;
    }
    let Some(c) = &m.calibration else { return NEVER };
    let until = c.valid_until_ms;
    let left = until.saturating_sub(now);
    if left > window {
        // enters the warning window
        until.saturating_sub(window)
    } else if left > 0 {
        // "expires in n days" until fewer than n whole days are left; then it expires
        match left / DAY_MS {
            0 => until,
            n => until - n * DAY_MS + 1,
        }
    } else {
        // "expired n days ago" until n + 1 whole days have passed
        until.saturating_add(((-left) / DAY_MS + 1).saturating_mul(DAY_MS))
    }
}

/// When `m`'s `missing_data` alarm ([`missing_data_alarm`]) is next raised by time alone: a
/// moment after [`MISSING_DATA_INTERVALS`] nominal intervals of silence. Once raised, its text does
/// not change with time, so [`NEVER`].
pub(crate) fn missing_data_due(state: &State, m: &Meter, progress: Option<&MeterProgress>) -> i64 {
    let nominal = state.params.accounting.nominal_interval_ms;
    let Some(p) = progress.filter(|p| p.accepted > 0) else { return NEVER };
    if nominal <= 0 || m.status != DeviceStatus::Active {
        return NEVER;
    }
    let due = p.last_timestamp_ms.saturating_add(nominal.saturating_mul(MISSING_DATA_INTERVALS)).saturating_add(1);
    if due <= state.timestamp_ms { NEVER } else { due }
}

/// A progress chunk: a gateway and the chunk number (slot / 256).
type Chunk = (DeviceId, u32);

/// The next times of a chunk's meters, by slot within the chunk.
#[derive(Debug)]
struct ChunkTimes {
    due: Vec<i64>,
    /// The earliest of `due` while the chunk is queued; [`NEVER`] while it is not.
    queued_at: i64,
}

/// The meter alarms' kinds, each with its bit in [`MeterWatch::held_kinds`].
const METER_KINDS: [(AlarmKind, u8); 4] = [
    (AlarmKind::CalibrationMissing, 1),
    (AlarmKind::CalibrationExpired, 2),
    (AlarmKind::CalibrationExpiring, 4),
    (AlarmKind::MissingData, 8),
];

fn kind_bit(kind: AlarmKind) -> u8 {
    METER_KINDS.iter().find(|(k, _)| *k == kind).map_or(0, |(_, b)| *b)
}

/// A held meter alarm, with where its meter's next time lives. Shared with the published set
/// (a pass hands every held alarm over, and most are unchanged since the last one).
#[derive(Debug)]
struct Held {
    alarm: Arc<AlarmView>,
    chunk: Chunk,
    slot: usize,
}

/// How urgent an alarm is, as [`AlarmView::order`], owned.
type Rank = (Severity, Option<i64>, AlarmKind, String, String);

fn rank(a: &AlarmView) -> Rank {
    (a.severity, a.valid_until_ms, a.kind, a.owner.clone(), a.key.clone())
}

/// The meter alarms and what a pass must look at next. See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct MeterWatch {
    /// The height the held alarms are exact at (`None`: never walked yet).
    synced: Option<u64>,
    chunks: HashMap<Chunk, ChunkTimes>,
    /// `(earliest next time, chunk)` of every chunk with one.
    queue: BTreeSet<(i64, Chunk)>,
    held: BTreeMap<String, Held>,
    /// Which kinds each meter (by id) has held, as [`METER_KINDS`] bits: a meter with none, the
    /// usual case, is looked at without building and searching for its four possible keys.
    held_kinds: HashMap<String, u8>,
    ranks: BTreeSet<Rank>,
    /// Each enterprise's region, read once per pass (set on the alarms as they are made).
    regions: HashMap<String, u32>,
    /// Meters whose alarm found no room in the last pass.
    pub(crate) overflowed: usize,
    /// Meters looked at in the last pass.
    pub(crate) evaluated: usize,
    /// Whether the last pass walked every meter.
    pub(crate) walked: bool,
    /// Active meters that reported before, by the hour (start) of their latest reading, for hours
    /// not over yet: the anomaly rule's candidates.
    reported: BTreeMap<i64, BTreeSet<DeviceId>>,
    reported_len: usize,
}

impl MeterWatch {
    /// The height the last pass was exact at.
    pub(crate) fn synced(&self) -> Option<u64> {
        self.synced
    }

    /// Brings the held alarms to `state`: looks at the `touched` meters (`None`: walks every
    /// meter), then at the meters whose next time has come.
    pub(crate) fn pass(&mut self, state: &State, touched: Option<Vec<DeviceId>>) {
        let now = state.timestamp_ms;
        self.overflowed = 0;
        self.evaluated = 0;
        self.regions.clear();
        let hour_end = calendar::period_start(Period::Hour, now);
        let old: Vec<i64> = self.reported.range(..hour_end).map(|(h, _)| *h).collect();
        for h in old {
            self.reported_len -= self.reported.remove(&h).map_or(0, |s| s.len());
        }
        self.walked = touched.is_none();
        match touched {
            None => {
                let (synced, walked) = (self.synced, self.walked);
                *self = MeterWatch { synced, walked, ..MeterWatch::default() };
                let mut progress = state.progress_reader();
                for m in state.meters() {
                    let p = progress.get(&m);
                    self.evaluate(state, &m, p.as_ref());
                }
            }
            Some(mut ids) => {
                // In id order: a gateway's meters share their chunk, which the reader keeps.
                ids.sort_unstable();
                ids.dedup();
                let mut progress = state.progress_reader();
                for id in &ids {
                    if let Some(m) = state.meter(id) {
                        let p = progress.get(&m);
                        self.evaluate(state, &m, p.as_ref());
                    }
                }
            }
        }
        // The chunks whose earliest next time has come (taken first: looking at a meter may set
        // its next time to `now` again, for the next pass).
        let mut due = Vec::new();
        while self.queue.first().is_some_and(|(t, _)| *t <= now) {
            let (_, chunk) = self.queue.pop_first().expect("checked");
            if let Some(c) = self.chunks.get_mut(&chunk) {
                c.queued_at = NEVER;
            }
            due.push(chunk);
        }
        for chunk in due {
            let slots: Vec<usize> = match self.chunks.get(&chunk) {
                Some(c) => (0..c.due.len()).filter(|&i| c.due[i] <= now).collect(),
                None => continue,
            };
            let record = state.progress_chunk(&chunk.0, chunk.1);
            for i in slots {
                let slot = record.as_ref().and_then(|r| r.meters.get(i));
                let meter = slot.and_then(|s| state.meter(&s.meter));
                match (meter, slot) {
                    (Some(m), Some(s)) if m.gateway == chunk.0 && m.slot / METERS_PER_PROGRESS_CHUNK == chunk.1 => {
                        self.evaluate(state, &m, s.progress.as_ref())
                    }
                    _ => self.set_due(&chunk, i, NEVER),
                }
            }
            self.requeue(&chunk);
        }
        self.synced = Some(state.height);
    }

    /// The held meter alarms.
    pub(crate) fn alarms(&self) -> impl Iterator<Item = &Arc<AlarmView>> {
        self.held.values().map(|h| &h.alarm)
    }

    /// The meters the anomaly rule may look at: active, reported before, latest reading in the
    /// current hour or later. In id order.
    pub(crate) fn anomaly_candidates(&self) -> Vec<DeviceId> {
        let mut ids: Vec<DeviceId> = self.reported.values().flatten().cloned().collect();
        if self.reported.len() > 1 {
            ids.sort_unstable();
            ids.dedup();
        }
        ids
    }

    /// Looks at one meter: its alarms replace the ones held for it, and its next time is set.
    fn evaluate(&mut self, state: &State, m: &Meter, p: Option<&MeterProgress>) {
        self.evaluated += 1;
        let now = state.timestamp_ms;
        let chunk: Chunk = (m.gateway.clone(), m.slot / METERS_PER_PROGRESS_CHUNK);
        let slot = (m.slot % METERS_PER_PROGRESS_CHUNK) as usize;
        // The alarms held for it until now (kept to carry their first-raised time over).
        let mut before: Vec<Arc<AlarmView>> = Vec::new();
        if let Some(bits) = self.held_kinds.remove(m.id.as_str()) {
            for (kind, bit) in METER_KINDS {
                if bits & bit != 0
                    && let Some(h) = self.held.remove(&format!("{}/{}", kind.as_str(), m.id))
                {
                    self.ranks.remove(&rank(&h.alarm));
                    before.push(h.alarm);
                }
            }
        }
        let mut due = calibration_due(m, now, state.params.calibration_warning_ms).min(missing_data_due(state, m, p));
        let alarms: Vec<AlarmView> =
            [calibration_alarm(state, m), missing_data_alarm(state, m, p)].into_iter().flatten().collect();
        let keys: Vec<String> = alarms.iter().map(|a| a.key.clone()).collect();
        let region = match self.regions.get(m.owner.as_str()) {
            Some(r) => *r,
            None if alarms.is_empty() => 0,
            None => {
                let r = state.organisation(&m.owner).map_or(0, |o| o.region);
                self.regions.insert(m.owner.as_str().to_string(), r);
                r
            }
        };
        for mut alarm in alarms {
            alarm.region = region;
            if let Some(old) = before.iter().find(|b| b.key == alarm.key) {
                alarm.raised_at_ms = old.raised_at_ms;
                alarm.raised_height = old.raised_height;
                if **old == alarm {
                    // Unchanged: keep the very value the published set shares.
                    self.hold(old.clone(), &chunk, slot, now);
                    continue;
                }
            }
            self.hold(Arc::new(alarm), &chunk, slot, now);
        }
        // Not all held (no room, or one pushed out the other): look again next pass.
        if !keys.iter().all(|k| self.held.contains_key(k)) {
            due = now;
        }
        self.set_due(&chunk, slot, due);

        for set in self.reported.values_mut() {
            if set.remove(&m.id) {
                self.reported_len -= 1;
            }
        }
        if let Some(p) = p.filter(|p| p.accepted > 0 && m.status == DeviceStatus::Active) {
            let hour = calendar::period_start(Period::Hour, p.last_timestamp_ms);
            if hour >= calendar::period_start(Period::Hour, now) && self.reported_len < MAX_ANOMALY_CANDIDATES {
                self.reported.entry(hour).or_default().insert(m.id.clone());
                self.reported_len += 1;
            }
        }
    }

    /// Holds `alarm`, making room by dropping the least urgent held alarm if it is less urgent
    /// (whose meter is then looked at again next pass). Counts what found no room.
    fn hold(&mut self, alarm: Arc<AlarmView>, chunk: &Chunk, slot: usize, now: i64) {
        let r = rank(&alarm);
        if self.held.len() >= MAX_HELD_METER_ALARMS {
            self.overflowed += 1;
            match self.ranks.last() {
                Some(worst) if *worst > r => {
                    let worst = self.ranks.pop_last().expect("checked");
                    let h = self.held.remove(&worst.4).expect("every rank has its alarm");
                    if let Some(meter) = &h.alarm.meter
                        && let Some(bits) = self.held_kinds.get_mut(meter.as_str())
                    {
                        *bits &= !kind_bit(h.alarm.kind);
                        if *bits == 0 {
                            self.held_kinds.remove(meter.as_str());
                        }
                    }
                    self.set_due(&h.chunk, h.slot, now);
                }
                _ => return,
            }
        }
        self.ranks.insert(r);
        if let Some(meter) = &alarm.meter {
            *self.held_kinds.entry(meter.clone()).or_default() |= kind_bit(alarm.kind);
        }
        self.held.insert(alarm.key.clone(), Held { alarm, chunk: chunk.clone(), slot });
    }

    /// Sets one meter's next time, keeping its chunk's place in the queue.
    fn set_due(&mut self, chunk: &Chunk, slot: usize, due: i64) {
        let c = match self.chunks.get_mut(chunk) {
            Some(c) => c,
            None if due == NEVER => return,
            None => self.chunks.entry(chunk.clone()).or_insert(ChunkTimes { due: Vec::new(), queued_at: NEVER }),
        };
        if c.due.len() <= slot {
            c.due.resize(slot + 1, NEVER);
        }
        let old = std::mem::replace(&mut c.due[slot], due);
        if due < c.queued_at {
            // earlier than the chunk's place (or not queued): queue it at `due`
            if c.queued_at != NEVER {
                self.queue.remove(&(c.queued_at, chunk.clone()));
            }
            c.queued_at = due;
            self.queue.insert((due, chunk.clone()));
        } else if old == c.queued_at && c.queued_at != NEVER && due != old {
            // the earliest moved later
            self.requeue(chunk);
        }
    }

    /// Puts a chunk in the queue at its earliest next time (or takes it out, and forgets it when it
    /// has none).
    fn requeue(&mut self, chunk: &Chunk) {
        let Some(c) = self.chunks.get_mut(chunk) else { return };
        if c.queued_at != NEVER {
            self.queue.remove(&(c.queued_at, chunk.clone()));
        }
        c.queued_at = c.due.iter().copied().min().unwrap_or(NEVER);
        if c.queued_at == NEVER {
            self.chunks.remove(chunk);
        } else {
            self.queue.insert((c.queued_at, chunk.clone()));
        }
    }
}
