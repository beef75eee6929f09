//! # trustmeter-gateway
//!
//! The enterprise gateway (trusted terminal, 端设备 / 可信边缘网关): where the trust problem
//! starts. It reads the configured points through the drivers of `trustmeter-meters`, turns each
//! value into a [`Reading`](trustmeter_types::Reading) with the meter's next sequence number,
//! signs it with the device key, stores it durably ([`store`]), and sends it to every configured
//! destination chain ([`sender`]) until that chain reports it finalized.
//!
//! ```text
//!  drivers ──DriverEvent──▶ collector ──Item──▶ Producer ──(sign, append)──▶ Store
//!  manual / import (API) ──────────────Item──▶     │                           │
//!                                                  └── wake ──▶ Sender(provincial) ─▶ chain
//!                                                           └─▶ Sender(national)   ─▶ chain
//! ```
//!
//! Guarantees: a value becomes a reading only when it is on disk; a stored reading is sent to
//! every destination, in production order, until finalized there (or rejected with a reason,
//! kept in the store); a crash at any moment loses nothing stored and duplicates nothing on
//! chain (the in-flight transaction is recorded before it is sent, and chains acknowledge a
//! resent reading as a duplicate).
//!
//! What it does not do: it keeps no meter registry of its own (the chains' records are
//! authoritative; it reads them for alarms), and it does not compute intervals or energy totals.

#![warn(missing_docs)]

pub mod alarms;
pub mod api;
pub mod audit;
pub mod config;
pub mod metrics;
pub mod producer;
pub mod sender;
pub mod status;
pub mod status_page;
pub mod store;
pub mod time;

use crate::alarms::{AlarmBoard, AlarmKind, Severity};
use crate::config::GatewayConfig;
use crate::producer::{Item, Produced, Producer};
use crate::status::{AlarmView, PointStatus, Shared, StatusReport};
use crate::store::{Store, StoreError};
use crate::time::ClockGuard;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use trustmeter_crypto::SigningKey;
use trustmeter_meters::{Clock, DriverEvent, PointConfig, SourceConfig};
use trustmeter_types::{DeviceId, ReadingOrigin, Unit};

pub use config::ConfigError;

/// Capacity of the driver event channel.
pub const EVENT_QUEUE: usize = 16_384;
/// How often points are checked for missing data and old readings pruned (real time).
pub const HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(1);
/// File descriptors kept for everything but the local API's connections (the store, the runtime,
/// logs, the connections to the destinations' nodes), besides one per meter connection (each
/// distinct Modbus or DL/T 645 address and MQTT broker): see [`fd_reserve`].
pub const FD_RESERVE: u64 = 256;

/// Gateway errors.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The configuration is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The local API could not bind.
    #[error("cannot listen on {addr} for the gateway's local API: {detail}")]
    Listen {
        /// Address.
        addr: SocketAddr,
        /// Why.
        detail: String,
    },
    /// A node client could not be built.
    #[error("destination {name}: {detail}")]
    Destination {
        /// Destination name.
        name: String,
        /// Why.
        detail: String,
    },
    /// A blocking task failed.
    #[error("internal task failed: {0}")]
    Task(String),
    /// The operator token could not be read or created.
    #[error("operator token: {0}")]
    Token(String),
    /// The process may not open enough files for the local API and the meter connections.
    #[error("open files: {0}")]
    Files(String),
}

/// Descriptors the gateway keeps besides its local API's connections: [`FD_RESERVE`] and one per
/// distinct meter connection of `cfg`'s points.
pub fn fd_reserve(cfg: &GatewayConfig) -> u64 {
    let connections: std::collections::BTreeSet<(&str, &str)> = cfg
        .points
        .iter()
        .filter_map(|p| match &p.source {
            SourceConfig::Modbus(m) => Some(("modbus", m.address.as_str())),
            SourceConfig::Dlt645(d) => Some(("dlt645", d.address.as_str())),
            SourceConfig::Mqtt(m) => Some(("mqtt", m.broker.as_str())),
            SourceConfig::Simulator(_) => None,
        })
        .collect();
    FD_RESERVE + connections.len() as u64
}

/// Simulated time that never runs ahead of the real clock: accelerated until it catches up with
/// now, then real time. Chains refuse readings from the future, so a demo can run for as long
/// as anyone watches.
#[derive(Debug)]
pub struct CatchUpClock {
    scaled: trustmeter_meters::ScaledClock,
}

impl CatchUpClock {
    /// Starts at `start_ms`, running `factor` times faster than real time until it reaches now.
    pub fn new(start_ms: i64, factor: f64) -> Self {
        Self { scaled: trustmeter_meters::ScaledClock::new(start_ms, factor) }
    }
}

impl Clock for CatchUpClock {
    fn now_ms(&self) -> i64 {
        self.scaled.now_ms().min(trustmeter_meters::SystemClock.now_ms())
    }
    fn real_until(&self, at_ms: i64) -> Duration {
        self.scaled.real_until(at_ms).max(trustmeter_meters::SystemClock.real_until(at_ms))
    }
    fn started_at_ms(&self) -> i64 {
        self.scaled.started_at_ms()
    }
}

/// The running gateway's shared parts (used by the local API and the tasks).
pub struct Runtime {
    /// The store.
    pub store: Arc<Store>,
    /// The gateway clock.
    pub clock: Arc<dyn Clock>,
    /// Live state.
    pub shared: Arc<Mutex<Shared>>,
    producer: Arc<Mutex<Producer>>,
    wake: watch::Sender<u64>,
    points: Vec<PointConfig>,
    gateway: DeviceId,
    key: Arc<SigningKey>,
    /// Prometheus metrics (`GET /metrics`).
    pub metrics: metrics::GatewayMetrics,
    /// Who may call the local API and how ([`api::ApiGuard`]).
    pub guard: api::ApiGuard,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("gateway", &self.gateway).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Signs and stores `items` (off the async threads), then wakes the senders.
    pub async fn produce(&self, items: Vec<Item>) -> Result<Produced, GatewayError> {
        let producer = self.producer.clone();
        let now = self.clock.now_ms();
        let suspect = {
            let mut s = self.shared.lock().expect("shared lock");
            let suspect = s.clock.observe(now);
            clock_alarm(&mut s, now);
            suspect
        };
        let produced =
            tokio::task::spawn_blocking(move || producer.lock().expect("producer lock").produce(items, now, suspect))
                .await
                .map_err(|e| GatewayError::Task(e.to_string()))??;
        self.metrics.produced(produced.ids.len());
        if let Some(last) = produced.ids.last() {
            self.wake.send_replace(*last);
        }
        Ok(produced)
    }

    /// The unit of a configured meter.
    pub fn unit_of(&self, meter: &DeviceId) -> Option<Unit> {
        self.points.iter().find(|p| &p.meter == meter).map(|p| p.unit)
    }

    /// The gateway's status now.
    pub fn status(&self) -> Result<StatusReport, StoreError> {
        let stored = self.store.len()?;
        let oldest = self.store.oldest()?.map(|(_, r)| r.signed.reading.timestamp_ms);
        let next_id = self.store.next_id()?;
        let now = self.clock.now_ms();
        let s = self.shared.lock().expect("shared lock");
        Ok(StatusReport {
            gateway: self.gateway.to_string(),
            public_key: self.key.public_key().to_text(),
            now_ms: now,
            now_local: time::local_text(now),
            clock: status::clock_text(s.clock.state()),
            stored_readings: stored,
            oldest_stored_ms: oldest,
            next_id,
            points: s.points.clone(),
            destinations: s.destinations.values().cloned().collect(),
            alarms: s.alarms.list().into_iter().map(AlarmView::from).collect(),
        })
    }
}

fn clock_alarm(s: &mut Shared, now: i64) {
    match s.clock.state() {
        time::ClockState::Good => {
            s.alarms.clear(AlarmKind::ClockJump, "clock");
            s.alarms.clear(AlarmKind::ClockDrift, "clock");
        }
        st @ time::ClockState::Jumped(_) => {
            s.alarms.raise(AlarmKind::ClockJump, Severity::Critical, "clock", status::clock_text(st), now)
        }
        st @ time::ClockState::Drifted(_) => {
            s.alarms.raise(AlarmKind::ClockDrift, Severity::Critical, "clock", status::clock_text(st), now)
        }
    }
}

/// A running gateway.
pub struct GatewayHandle {
    /// Shared parts.
    pub runtime: Arc<Runtime>,
    /// Where the local API listens.
    pub api_addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl std::fmt::Debug for GatewayHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayHandle").field("api_addr", &self.api_addr).finish_non_exhaustive()
    }
}

impl GatewayHandle {
    /// Stops every task and waits for them (the store is consistent at every instant, so this is
    /// a courtesy, not a requirement: a killed gateway loses nothing it stored).
    pub async fn stop(mut self) {
        self.shutdown.send_replace(true);
        let deadline = tokio::time::sleep(Duration::from_secs(5));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                r = self.tasks.join_next() => if r.is_none() { break },
                _ = &mut deadline => { self.tasks.abort_all(); break }
            }
        }
    }
}

fn driver_name(p: &PointConfig) -> &'static str {
    match p.source {
        SourceConfig::Modbus(_) => "modbus",
        SourceConfig::Dlt645(_) => "dlt645",
        SourceConfig::Mqtt(_) => "mqtt",
        SourceConfig::Simulator(_) => "simulator",
    }
}

/// The clock a config asks for: simulated (catch-up) time or the system clock.
pub fn clock_for(cfg: &GatewayConfig) -> Arc<dyn Clock> {
    match cfg.gateway.simulation_speed {
        Some(speed) => {
            let start = cfg.gateway.simulation_start_ms.unwrap_or_else(|| trustmeter_meters::SystemClock.now_ms());
            Arc::new(CatchUpClock::new(start, speed))
        }
        None => Arc::new(trustmeter_meters::SystemClock),
    }
}

/// Starts a gateway: opens the store, starts the drivers, the collector, one sender per
/// destination, housekeeping and the local API.
pub async fn start(cfg: GatewayConfig, key: SigningKey, clock: Arc<dyn Clock>) -> Result<GatewayHandle, GatewayError> {
    cfg.validate()?;
    // Raises the soft limit of open files to the hard one and checks that the local API's
    // connections cannot take the descriptors the store and the meters need.
    let files = trustmeter_httpserve::fd_budget(cfg.gateway.http.max_connections, fd_reserve(&cfg))
        .map_err(GatewayError::Files)?;
    tracing::info!(open_files = files, "file descriptor budget");
    std::fs::create_dir_all(&cfg.gateway.data_dir)
        .map_err(|e| StoreError::Db { path: cfg.gateway.data_dir.display().to_string(), detail: e.to_string() })?;
    let store = Arc::new(Store::open(&cfg.store_path())?);
    let simulated = cfg.gateway.simulation_speed.is_some();
    let guard = if simulated {
        // Simulated time is not compared with anything real.
        ClockGuard::new(1.0, i64::MAX / 4, i64::MAX / 4)
    } else {
        ClockGuard::new(1.0, cfg.gateway.max_clock_step_ms, cfg.gateway.max_chain_drift_ms)
    };
    let points: Vec<PointStatus> = cfg
        .points
        .iter()
        .map(|p| PointStatus {
            meter: p.meter.to_string(),
            driver: driver_name(p).into(),
            unit: p.unit.symbol().into(),
            poll_interval_s: if matches!(p.source, SourceConfig::Mqtt(_)) { 0 } else { p.poll_interval_s },
            ..PointStatus::default()
        })
        .collect();
    let shared = Arc::new(Mutex::new(Shared {
        alarms: AlarmBoard::default(),
        points,
        destinations: BTreeMap::new(),
        clock: guard,
    }));
    let key = Arc::new(key);
    let producer = Arc::new(Mutex::new(Producer::new(store.clone(), (*key).clone(), shared.clone())?));
    let (wake, wake_rx) = watch::channel(store.next_id()?);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let gateway_metrics = metrics::GatewayMetrics::new();
    for d in &cfg.destinations {
        gateway_metrics.destination(&d.name);
    }
    for p in &cfg.points {
        if let SourceConfig::Mqtt(m) = &p.source {
            gateway_metrics.mqtt_topic(&m.topic);
        }
    }
    let runtime = Arc::new(Runtime {
        store: store.clone(),
        clock: clock.clone(),
        shared: shared.clone(),
        producer,
        wake,
        points: cfg.points.clone(),
        gateway: cfg.gateway.id.clone(),
        key: key.clone(),
        metrics: gateway_metrics.clone(),
        guard: api::ApiGuard {
            token: trustmeter_keystore::load_or_create_token(&cfg.token_path())
                .map_err(|e| GatewayError::Token(e.to_string()))?,
            listen: cfg.gateway.listen,
            hosts: cfg.gateway.api_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            origins: cfg.gateway.api_origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
        },
    });
    let mut tasks = JoinSet::new();

    // Drivers and the collector.
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
    tasks.spawn(trustmeter_meters::run_points(cfg.points.clone(), clock.clone(), events_tx, shutdown_rx.clone()));
    let hold_ms = i64::try_from(cfg.alarms.refused_message_hold_s.saturating_mul(1_000)).unwrap_or(i64::MAX);
    tasks.spawn(collect(runtime.clone(), events_rx, shutdown_rx.clone(), hold_ms));

    // Senders.
    let meters: Vec<DeviceId> = cfg.points.iter().map(|p| p.meter.clone()).collect();
    for d in &cfg.destinations {
        let client = trustmeter_api_client::NodeClient::with_ca(
            d.nodes.clone(),
            Duration::from_millis(d.request_timeout_ms),
            d.ca_file.as_deref(),
        )
        .map_err(|e| GatewayError::Destination { name: d.name.clone(), detail: e.to_string() })?
        // Its reads (the pre-audit's meter records) are signed with the device key: a
        // node that enforces access rules serves a gateway its own enterprise's records.
        .with_signer((*key).clone());
        let sender = sender::Sender {
            cfg: d.clone(),
            client,
            store: store.clone(),
            key: key.clone(),
            gateway: cfg.gateway.id.clone(),
            meters: meters.clone(),
            calibration_warning_days: cfg.alarms.calibration_warning_days,
            backlog_alarm: (cfg.alarms.backlog_readings, cfg.alarms.backlog_age_s),
            clock: clock.clone(),
            simulated_clock: simulated,
            shared: shared.clone(),
            wake: wake_rx.clone(),
            shutdown: shutdown_rx.clone(),
            pre_audit: Default::default(),
            known_sets: Default::default(),
            metrics: gateway_metrics.clone(),
            genesis: match &d.genesis {
                Some(path) => Some(Arc::new(
                    load_genesis(path).map_err(|detail| GatewayError::Destination { name: d.name.clone(), detail })?,
                )),
                None => None,
            },
            pinned_genesis: cfg.gateway.data_dir.join(format!("genesis-{}.json", d.name)),
            verified_height: Default::default(),
        };
        if let Some(g) = &sender.genesis {
            sender.pre_audit.observe_params(g);
        }
        tasks.spawn(sender.run());
    }

    // Housekeeping: missing data, retention.
    tasks.spawn(housekeeping(runtime.clone(), cfg.clone(), shutdown_rx.clone()));

    // Local API.
    let listener = tokio::net::TcpListener::bind(cfg.gateway.listen)
        .await
        .map_err(|e| GatewayError::Listen { addr: cfg.gateway.listen, detail: e.to_string() })?;
    let api_addr =
        listener.local_addr().map_err(|e| GatewayError::Listen { addr: cfg.gateway.listen, detail: e.to_string() })?;
    let app = api::router(runtime.clone());
    let mut stop = shutdown_rx.clone();
    let limits = cfg.gateway.http.clone();
    // Its connection counts are reported by `GET /metrics`.
    let stats = gateway_metrics.server_stats();
    tasks.spawn(async move {
        trustmeter_httpserve::serve(listener, app, limits, None, stats, async move {
            let _ = stop.wait_for(|v| *v).await;
        })
        .await;
    });
    tracing::info!(gateway = %cfg.gateway.id, points = cfg.points.len(), destinations = cfg.destinations.len(), %api_addr, "gateway started");
    Ok(GatewayHandle { runtime, api_addr, shutdown, tasks })
}

/// The concrete topic of an MQTT message refused for a point, or `None` for any other driver error
/// (a failed connection or read: `driver_error`, cleared by the point's next value).
fn refused_topic(error: &trustmeter_meters::DriverError) -> Option<&str> {
    use trustmeter_meters::DriverError as E;
    match error {
        E::Payload { topic, .. } | E::PayloadTooLarge { topic, .. } => Some(topic),
        _ => None,
    }
}

/// Raises `message_refused` for an MQTT message refused for `point` (held `hold_ms`) and counts
/// it under the point's topic filter.
fn message_refused(
    rt: &Runtime,
    s: &mut Shared,
    point: usize,
    meter: &DeviceId,
    error: &trustmeter_meters::DriverError,
    now: i64,
    hold_ms: i64,
) {
    let topic = refused_topic(error).unwrap_or_default();
    let filter = match rt.points.get(point).map(|p| &p.source) {
        Some(SourceConfig::Mqtt(m)) => m.topic.as_str(),
        _ => topic,
    };
    rt.metrics.mqtt_refused(filter);
    s.alarms.raise_until(
        AlarmKind::MessageRefused,
        Severity::Warning,
        meter.as_str(),
        format!(
            "an MQTT message on topic {topic} was refused for point {point} (meter {meter}, subscribed as {filter}) at {}: {error}; the value it carried is lost: fix the publisher, or enter the value by hand (trustmeter gateway manual)",
            time::local_text(now)
        ),
        now,
        now.saturating_add(hold_ms),
    );
}

/// Receives driver events, in batches, and produces readings. `hold_ms`: how long a refused MQTT
/// message's alarm stays raised.
async fn collect(
    rt: Arc<Runtime>,
    mut events: mpsc::Receiver<DriverEvent>,
    mut shutdown: watch::Receiver<bool>,
    hold_ms: i64,
) {
    let mut buf = Vec::new();
    loop {
        tokio::select! {
            n = events.recv_many(&mut buf, producer::MAX_PRODUCE_BATCH) => if n == 0 { return },
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let mut items = Vec::with_capacity(buf.len());
        // Source messages whose events are all in `items` (or were in an earlier batch, already
        // stored): acknowledged once this batch is stored, never before.
        let mut taken = Vec::new();
        {
            let mut s = rt.shared.lock().expect("shared lock");
            let now = rt.clock.now_ms();
            for ev in buf.drain(..) {
                match ev {
                    DriverEvent::Sample(smp) => {
                        let Some(p) = rt.points.get(smp.point) else { continue };
                        if let Some(st) = s.points.get_mut(smp.point) {
                            st.samples += 1;
                            st.last_value = Some(smp.value.to_string());
                            st.last_collected_ms = Some(smp.collected_at_ms);
                            st.last_error = None;
                        }
                        s.alarms.clear(AlarmKind::DriverError, smp.meter.as_str());
                        s.alarms.clear(AlarmKind::NoData, smp.meter.as_str());
                        items.push(Item {
                            meter: smp.meter,
                            value: smp.value,
                            unit: p.unit,
                            timestamp_ms: smp.collected_at_ms,
                            origin: ReadingOrigin::Online,
                            stamped_by_gateway: !smp.source_timestamp,
                            point: Some(smp.point),
                            kind: p.kind,
                            range: (p.min, p.max),
                        });
                    }
                    DriverEvent::Error { point, meter, error } => {
                        let msg = error.to_string();
                        if let Some(st) = s.points.get_mut(point) {
                            st.errors += 1;
                            st.last_error = Some(msg.clone());
                        }
                        if refused_topic(&error).is_some() {
                            message_refused(&rt, &mut s, point, &meter, &error, now, hold_ms);
                            continue;
                        }
                        s.alarms.raise(
                            AlarmKind::DriverError,
                            Severity::Warning,
                            meter.as_str(),
                            format!("reading meter {meter} failed: {msg}"),
                            now,
                        );
                    }
                    DriverEvent::Taken(ack) => taken.push(ack),
                }
            }
        }
        if items.is_empty() {
            taken.into_iter().for_each(|a| a.ack());
            continue;
        }
        match rt.produce(items).await {
            Ok(p) => {
                for r in &p.refused {
                    tracing::warn!(meter = %r.meter, reason = %r.reason, "value refused");
                }
                taken.into_iter().for_each(|a| a.ack());
            }
            Err(e) => {
                // The store is unusable (disk full?): nothing was acknowledged, to the sources
                // either (their messages come again after a reconnect); say so loudly.
                tracing::error!(error = %e, unacknowledged = taken.len(), "could not store readings");
                let now = rt.clock.now_ms();
                rt.shared.lock().expect("shared lock").alarms.raise(
                    AlarmKind::DriverError,
                    Severity::Critical,
                    "store",
                    format!("readings could not be stored: {e}; check the disk"),
                    now,
                );
            }
        }
    }
}

/// Raises `no_data` for silent points and prunes readings past retention.
async fn housekeeping(rt: Arc<Runtime>, cfg: GatewayConfig, mut shutdown: watch::Receiver<bool>) {
    let retention_ms = i64::from(cfg.gateway.retention_days) * 86_400_000;
    let names: Vec<String> = cfg.destinations.iter().map(|d| d.name.clone()).collect();
    let mut last_prune = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(HOUSEKEEPING_INTERVAL) => {}
            _ = shutdown.wait_for(|v| *v) => return,
        }
        let now = rt.clock.now_ms();
        {
            let mut guard = rt.shared.lock().expect("shared lock");
            let s = &mut *guard;
            for (i, p) in rt.points.iter().enumerate() {
                let silence_ms = match p.source {
                    SourceConfig::Mqtt(_) => cfg.alarms.push_silence_s as i64 * 1_000,
                    _ => p.poll_interval_s as i64 * 1_000 * i64::from(cfg.alarms.no_data_polls),
                };
                let last = s.points.get(i).and_then(|st| st.last_collected_ms);
                let started = rt.clock.started_at_ms();
                let silent_since = last.unwrap_or(started);
                if now - silent_since > silence_ms {
                    s.alarms.raise(
                        AlarmKind::NoData,
                        Severity::Critical,
                        p.meter.as_str(),
                        format!(
                            "no value from meter {} since {}; check the meter, its wiring and the driver settings",
                            p.meter,
                            time::local_text(silent_since)
                        ),
                        now,
                    );
                }
            }
            clock_alarm(s, now);
            s.alarms.expire(now);
        }
        if last_prune.elapsed() >= Duration::from_secs(60) {
            last_prune = std::time::Instant::now();
            let store = rt.store.clone();
            let names = names.clone();
            let cutoff = now - retention_ms;
            match tokio::task::spawn_blocking(move || store.prune(&names, cutoff)).await {
                Ok(Ok(n)) if n > 0 => tracing::info!(pruned = n, "readings past retention deleted"),
                Ok(Err(e)) => tracing::warn!(error = %e, "pruning failed"),
                _ => {}
            }
        }
    }
}

/// Reads a destination's genesis file.
fn load_genesis(path: &std::path::Path) -> Result<trustmeter_types::Genesis, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading genesis {}: {e}", path.display()))?;
    let g: trustmeter_types::Genesis =
        serde_json::from_str(&text).map_err(|e| format!("parsing genesis {}: {e}", path.display()))?;
    trustmeter_types::codec::Validate::validate(&g)
        .map_err(|e| format!("genesis {} is invalid: {e}", path.display()))?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_reserve_counts_each_meter_connection_once() {
        let cfg = GatewayConfig::parse(
            r#"
[gateway]
id = "91350100M000100Y43-GW-01"
data_dir = "d"

[[destination]]
name = "p"
nodes = ["http://127.0.0.1:8080"]

[[point]]
meter = "91350100M000100Y43-E-1"
driver = "mqtt"
broker = "127.0.0.1:1883"
topic = "a"
field = "v"
unit = "kWh"

[[point]]
meter = "91350100M000100Y43-E-2"
driver = "mqtt"
broker = "127.0.0.1:1883"
topic = "b"
field = "v"
unit = "kWh"

[[point]]
meter = "91350100M000100Y43-E-3"
driver = "mqtt"
broker = "127.0.0.1:1884"
topic = "a"
field = "v"
unit = "kWh"
"#,
        )
        .unwrap();
        assert_eq!(fd_reserve(&cfg), FD_RESERVE + 2);
        // The budget of this configuration fits the test process.
        assert!(trustmeter_httpserve::fd_budget(cfg.gateway.http.max_connections, fd_reserve(&cfg)).is_ok());
        // One that cannot fit is refused with what to change.
        let e = trustmeter_httpserve::fd_budget(64, u64::MAX / 2).unwrap_err();
        assert!(e.contains("ulimit"), "{e}");
    }
}
