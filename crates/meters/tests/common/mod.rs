//! Helpers shared by the integration tests: building points and running them.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use trustmeter_meters::{
    Ack, Clock, DriverError, DriverEvent, PointConfig, Sample, Scale, ScaledClock, SourceConfig, run_points,
};
use trustmeter_types::{DeviceId, RegisterKind, Unit};

/// 2026-01-05 00:00 +08:00, a Monday (Unix ms).
pub const MONDAY_MS: i64 = 1_767_542_400_000;

pub fn meter(id: &str) -> DeviceId {
    DeviceId::new(id).unwrap()
}

pub fn point(meter_id: &str, source: SourceConfig) -> PointConfig {
    PointConfig {
        meter: meter(meter_id),
        source,
        unit: Unit::KilowattHour,
        kind: RegisterKind::Cumulative,
        scale: Scale::ONE,
        poll_interval_s: 1,
        min: None,
        max: None,
    }
}

/// Points running under `run_points` in the background, with a consumer that takes every
/// message at once (acknowledges each [`DriverEvent::Taken`] as it comes), unless `hold_acks` is
/// set: then it keeps them and drops them unacknowledged at [`Run::stop`], as a gateway that
/// crashed before storing would.
pub struct Run {
    rx: mpsc::Receiver<DriverEvent>,
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
    /// Keep acknowledgements instead of sending them.
    pub hold_acks: bool,
    held: Vec<Ack>,
}

/// Runs `points` on `clock`.
pub fn run(points: Vec<PointConfig>, clock: Arc<dyn Clock>) -> Run {
    let (tx, rx) = mpsc::channel(256);
    let (stop, shutdown) = watch::channel(false);
    let handle = tokio::spawn(run_points(points, clock, tx, shutdown));
    Run { rx, stop, handle, hold_acks: false, held: Vec::new() }
}

/// A clock 20× faster than real time: 1 s polls every 50 ms.
pub fn fast_clock() -> Arc<dyn Clock> {
    Arc::new(ScaledClock::new(MONDAY_MS + 9 * 3_600_000, 20.0))
}

impl Run {
    /// The next sample or error within `within`, taking (acknowledging or holding) the messages
    /// that end on the way; `None` if nothing came in time.
    pub async fn try_next(&mut self, within: Duration) -> Option<DriverEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let ev = tokio::time::timeout_at(deadline, self.rx.recv()).await.ok()?.expect("drivers stopped");
            match ev {
                DriverEvent::Taken(ack) if self.hold_acks => self.held.push(ack),
                DriverEvent::Taken(ack) => ack.ack(),
                ev => return Some(ev),
            }
        }
    }

    /// The next sample or error, failing the test after `secs` seconds.
    pub async fn next(&mut self, secs: u64) -> DriverEvent {
        self.try_next(Duration::from_secs(secs)).await.expect("no driver event in time")
    }

    /// Takes every event already queued.
    pub async fn drain(&mut self) {
        while self.try_next(Duration::from_millis(1)).await.is_some() {}
    }

    /// The next event of one point.
    pub async fn next_of(&mut self, point: usize, secs: u64) -> DriverEvent {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let ev = self.try_next(left).await.unwrap_or_else(|| panic!("no event for point {point} in time"));
            if ev.point() == Some(point) {
                return ev;
            }
        }
    }

    /// The next sample of one point, skipping its errors.
    pub async fn sample_of(&mut self, point: usize, secs: u64) -> Sample {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now()).as_secs().max(1);
            if let DriverEvent::Sample(s) = self.next_of(point, left).await {
                return s;
            }
            assert!(tokio::time::Instant::now() < deadline, "no sample for point {point} in time");
        }
    }

    /// The next sample of one point with this value, skipping everything else of the point
    /// (e.g. samples of warm-up messages still in flight).
    pub async fn sample_with(&mut self, point: usize, value: trustmeter_types::Quantity, secs: u64) -> Sample {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now()).as_secs().max(1);
            let s = self.sample_of(point, left).await;
            if s.value == value {
                return s;
            }
            assert!(tokio::time::Instant::now() < deadline, "no sample of {value} for point {point} in time");
        }
    }

    /// The next error of one point, skipping its samples.
    pub async fn error_of(&mut self, point: usize, secs: u64) -> DriverError {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now()).as_secs().max(1);
            if let DriverEvent::Error { error, .. } = self.next_of(point, left).await {
                return error;
            }
            assert!(tokio::time::Instant::now() < deadline, "no error for point {point} in time");
        }
    }

    /// Takes what is queued (see `hold_acks`), signals shutdown and checks that `run_points`
    /// returns promptly.
    pub async fn stop(mut self) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.drain().await;
        self.stop.send(true).unwrap();
        let Run { mut rx, handle, held, .. } = self;
        drop(held);
        // Keep draining so that no driver is blocked on a full channel.
        let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
        tokio::time::timeout(Duration::from_secs(5), handle).await.expect("run_points did not stop").unwrap();
        drain.abort();
    }
}
