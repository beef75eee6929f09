//! Running points: grouping by connection, the polling schedule, events and shutdown.

use crate::clock::Clock;
use crate::config::{PointConfig, SourceConfig};
use crate::dlt645::Dlt645Link;
use crate::error::DriverError;
use crate::modbus::ModbusLink;
use crate::simulator::SimulatedMeter;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use trustmeter_types::{DeviceId, Quantity};

/// A value read from a point.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Index of the point in the `Vec` given to [`run_points`].
    pub point: usize,
    /// The point's meter.
    pub meter: DeviceId,
    /// The scaled value, in the point's unit.
    pub value: Quantity,
    /// When the value was collected, Unix milliseconds (UTC).
    pub collected_at_ms: i64,
    /// `true` when the timestamp came from the device or payload, `false` when the gateway clock
    /// stamped it.
    pub source_timestamp: bool,
}

/// A source's message whose events were all sent before it, waiting for the consumer's word that
/// they are taken. Sent as [`DriverEvent::Taken`] by drivers whose source keeps a message until
/// it is acknowledged (MQTT at QoS 1).
///
/// The consumer calls [`Ack::ack`] once every event that came before it is durably stored or
/// reported: only then does the source forget the message. Dropping an `Ack` without calling
/// `ack` (a failed write, a crash, a shutdown) leaves the message with the source, which delivers
/// it again on the next connection; so a message is never lost between the source and the store,
/// and may be delivered twice.
pub struct Ack {
    tx: mpsc::Sender<AckId>,
    id: AckId,
}

/// What the driver needs to acknowledge one message (MQTT: its QoS and packet id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AckId {
    pub(crate) qos: rumqttc::QoS,
    pub(crate) pkid: u16,
}

impl Ack {
    pub(crate) fn new(tx: mpsc::Sender<AckId>, id: AckId) -> Self {
        Self { tx, id }
    }

    /// Tells the source that the message is taken. Never blocks. If the driver has stopped or its
    /// acknowledgement queue is full, the message stays with the source and comes again later.
    pub fn ack(self) {
        if let Err(e) = self.tx.try_send(self.id) {
            tracing::debug!(pkid = self.id.pkid, error = %e, "message not acknowledged; the source will deliver it again");
        }
    }
}

impl std::fmt::Debug for Ack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ack").field("pkid", &self.id.pkid).finish()
    }
}

/// What the drivers report.
#[derive(Debug)]
pub enum DriverEvent {
    /// A value.
    Sample(Sample),
    /// A failed read (or an unusable point); the driver goes on.
    Error {
        /// Index of the point.
        point: usize,
        /// The point's meter.
        meter: DeviceId,
        /// What went wrong.
        error: DriverError,
    },
    /// Every event of one source message has been sent; acknowledge the message once they are
    /// taken (see [`Ack`]).
    Taken(Ack),
}

impl DriverEvent {
    /// The point the event is about; `None` for [`DriverEvent::Taken`].
    pub fn point(&self) -> Option<usize> {
        match self {
            DriverEvent::Sample(s) => Some(s.point),
            DriverEvent::Error { point, .. } => Some(*point),
            DriverEvent::Taken(_) => None,
        }
    }
}

/// Resolves when shutdown is signalled: the watch value is `true`, or its sender is gone.
pub(crate) async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// Sends an event unless shutdown comes first. `false` when the driver should stop (shutdown, or
/// nobody listens any more).
pub(crate) async fn emit(
    events: &mpsc::Sender<DriverEvent>,
    ev: DriverEvent,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        r = events.send(ev) => r.is_ok(),
        _ = stopped(shutdown) => false,
    }
}

/// The first multiple of `interval_ms` strictly after `now_ms`.
fn next_tick(now_ms: i64, interval_ms: i64) -> i64 {
    (now_ms.div_euclid(interval_ms) + 1) * interval_ms
}

/// Sleeps until the clock shows `at_ms`; `false` if shutdown came first.
async fn wait_until(clock: &dyn Clock, at_ms: i64, shutdown: &mut watch::Receiver<bool>) -> bool {
    loop {
        if clock.now_ms() >= at_ms {
            return true;
        }
        let d = clock.real_until(at_ms).max(Duration::from_millis(1));
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = stopped(shutdown) => return false,
        }
    }
}

/// Runs every point until `shutdown` fires, sending events; returns when every driver task has
/// stopped.
///
/// - **Shutdown** is a [`tokio::sync::watch`] channel of `bool`: send `true` (or drop the sender)
///   to stop. Reads in flight are abandoned. The drivers also stop when `events`' receiver is
///   dropped.
/// - Invalid points ([`PointConfig::validate`]) yield one [`DriverEvent::Error`] with
///   [`DriverError::Config`] each and are not run; the others run.
/// - Polled drivers read at every multiple of `poll_interval_s` since the Unix epoch on `clock`
///   (the first read is at the next such instant, not at once), so 900 s polls land on the quarter
///   hours. Ticks missed because reads were slow are skipped, with a warning.
/// - Points sharing a connection are grouped: one task and one TCP connection per Modbus or
///   DL/T 645 address (reads on it are sequential), one MQTT connection per broker carrying all its
///   topics, one task for all simulated points. Connections are re-opened with backoff.
/// - Timestamps: Modbus and DL/T 645 values are stamped by `clock` when the reply arrives;
///   simulated values at the poll instant itself; MQTT values by their `timestamp_field` when
///   configured, else by `clock` on arrival.
/// - Values are delivered whether or not they lie in `[min, max]`; see
///   [`PointConfig::check_range`].
pub async fn run_points(
    points: Vec<PointConfig>,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<DriverEvent>,
    shutdown: watch::Receiver<bool>,
) {
    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    enum Key {
        Modbus(String),
        Dlt645(String),
        Mqtt(String),
        Simulator,
    }
    let mut groups: BTreeMap<Key, Vec<(usize, PointConfig)>> = BTreeMap::new();
    let mut shutdown_main = shutdown.clone();
    for (i, p) in points.into_iter().enumerate() {
        if let Err(e) = p.validate(i) {
            tracing::warn!(point = i, meter = %p.meter, error = %e, "point not run");
            let ev = DriverEvent::Error { point: i, meter: p.meter.clone(), error: DriverError::Config(e) };
            if !emit(&events, ev, &mut shutdown_main).await {
                return;
            }
            continue;
        }
        let key = match &p.source {
            SourceConfig::Modbus(m) => Key::Modbus(m.address.clone()),
            SourceConfig::Dlt645(d) => Key::Dlt645(d.address.clone()),
            SourceConfig::Mqtt(q) => Key::Mqtt(q.broker.clone()),
            SourceConfig::Simulator(_) => Key::Simulator,
        };
        groups.entry(key).or_default().push((i, p));
    }
    let mut tasks = JoinSet::new();
    for (key, pts) in groups {
        let (clock, events, shutdown) = (clock.clone(), events.clone(), shutdown.clone());
        match key {
            Key::Modbus(peer) => {
                tasks.spawn(run_polled(Link::Modbus(ModbusLink::new(peer)), pts, clock, events, shutdown));
            }
            Key::Dlt645(peer) => {
                tasks.spawn(run_polled(Link::Dlt645(Dlt645Link::new(peer)), pts, clock, events, shutdown));
            }
            Key::Simulator => {
                let origin = clock.started_at_ms();
                let sources: HashMap<&DeviceId, &crate::config::SimulatorSource> = pts
                    .iter()
                    .filter_map(|(_, p)| match &p.source {
                        SourceConfig::Simulator(s) => Some((&p.meter, s)),
                        _ => None,
                    })
                    .collect();
                let meters = pts
                    .iter()
                    .filter_map(|(i, p)| match &p.source {
                        SourceConfig::Simulator(s) if s.sub_meters.is_empty() => {
                            Some((*i, SimulatedMeter::new(s.clone(), p.kind, origin)))
                        }
                        SourceConfig::Simulator(s) => Some((
                            *i,
                            SimulatedMeter::master(s.clone(), p.kind, origin, |id| {
                                sources.get(id).map(|s| (*s).clone())
                            }),
                        )),
                        _ => None,
                    })
                    .collect();
                tasks.spawn(run_polled(Link::Simulator(meters), pts, clock, events, shutdown));
            }
            Key::Mqtt(broker) => {
                tasks.spawn(crate::mqtt::run_broker(broker, pts, clock, events, shutdown));
            }
        }
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!(error = %e, "a driver task failed");
        }
    }
}

/// The connection (or simulation) behind a group of polled points.
enum Link {
    Modbus(ModbusLink),
    Dlt645(Dlt645Link),
    Simulator(HashMap<usize, SimulatedMeter>),
}

impl Link {
    /// Reads one point: the value and its timestamp.
    async fn read(
        &mut self,
        index: usize,
        point: &PointConfig,
        tick_ms: i64,
        clock: &dyn Clock,
    ) -> Result<(Quantity, i64), DriverError> {
        match (self, &point.source) {
            (Link::Modbus(link), SourceConfig::Modbus(src)) => {
                link.read(src, &point.scale).await.map(|v| (v, clock.now_ms()))
            }
            (Link::Dlt645(link), SourceConfig::Dlt645(src)) => {
                link.read(src, &point.scale).await.map(|v| (v, clock.now_ms()))
            }
            (Link::Simulator(meters), SourceConfig::Simulator(_)) => match meters.get_mut(&index) {
                Some(m) => m.value_at(tick_ms).map(|v| (v, tick_ms)),
                None => Err(DriverError::Simulator("point has no simulated meter".into())),
            },
            _ => Err(DriverError::Simulator("point grouped with the wrong driver".into())),
        }
    }
}

async fn run_polled(
    mut link: Link,
    points: Vec<(usize, PointConfig)>,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<DriverEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    if points.is_empty() {
        return;
    }
    let interval = |p: &PointConfig| (p.poll_interval_s as i64) * 1000;
    let start = clock.now_ms();
    let mut next: Vec<i64> = points.iter().map(|(_, p)| next_tick(start, interval(p))).collect();
    loop {
        let due = next.iter().copied().min().unwrap_or(i64::MAX);
        if !wait_until(&*clock, due, &mut shutdown).await {
            return;
        }
        for (j, (index, point)) in points.iter().enumerate() {
            if next[j] > clock.now_ms() {
                continue;
            }
            let tick = next[j];
            let result = tokio::select! {
                r = link.read(*index, point, tick, &*clock) => r,
                _ = stopped(&mut shutdown) => return,
            };
            let ev = match result {
                Ok((value, at)) => {
                    tracing::debug!(point = index, meter = %point.meter, %value, "sample");
                    DriverEvent::Sample(Sample {
                        point: *index,
                        meter: point.meter.clone(),
                        value,
                        collected_at_ms: at,
                        source_timestamp: false,
                    })
                }
                Err(error) => {
                    tracing::warn!(point = index, meter = %point.meter, %error, "read failed");
                    DriverEvent::Error { point: *index, meter: point.meter.clone(), error }
                }
            };
            if !emit(&events, ev, &mut shutdown).await {
                return;
            }
            let iv = interval(point);
            let n = next_tick(clock.now_ms(), iv);
            let skipped = (n - tick) / iv - 1;
            if skipped > 0 {
                tracing::warn!(point = index, meter = %point.meter, skipped, "poll ticks skipped: reads are slower than the poll interval");
            }
            next[j] = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_on_the_epoch_grid() {
        assert_eq!(next_tick(0, 900_000), 900_000);
        assert_eq!(next_tick(899_999, 900_000), 900_000);
        assert_eq!(next_tick(900_000, 900_000), 1_800_000);
        assert_eq!(next_tick(-1, 1000), 0);
    }
}
