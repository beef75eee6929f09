//! Time sources. Real gateways use [`SystemClock`]; the demo and tests run accelerated time with
//! [`ScaledClock`]. Drivers only read the clock and ask how long to sleep in real time.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A time source for the drivers.
pub trait Clock: Send + Sync + 'static {
    /// Now, as Unix milliseconds (UTC).
    fn now_ms(&self) -> i64;
    /// Real (wall) time to wait until the clock shows `at_ms`; zero if it already does.
    fn real_until(&self, at_ms: i64) -> Duration;
    /// When this clock started, as Unix milliseconds. The simulator's `start` register value is
    /// the value at this instant. [`SystemClock`] has no start of its own and answers "now", so
    /// the simulator starts when [`run_points`](crate::run_points) does.
    fn started_at_ms(&self) -> i64 {
        self.now_ms()
    }
}

/// The operating system's clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
        }
    }
    fn real_until(&self, at_ms: i64) -> Duration {
        Duration::from_millis(u64::try_from(at_ms.saturating_sub(self.now_ms())).unwrap_or(0))
    }
}

/// Accelerated (or slowed) time: starts at `start_ms` when created and advances `factor`
/// simulated milliseconds per real millisecond, measured on a monotonic [`Instant`].
#[derive(Clone, Copy, Debug)]
pub struct ScaledClock {
    start_ms: i64,
    factor: f64,
    anchor: Instant,
}

impl ScaledClock {
    /// A clock showing `start_ms` now and running `factor` times faster than real time.
    ///
    /// # Panics
    /// If `factor` is not a finite number greater than zero (a programming error).
    pub fn new(start_ms: i64, factor: f64) -> Self {
        assert!(factor.is_finite() && factor > 0.0, "ScaledClock factor must be finite and > 0, got {factor}");
        ScaledClock { start_ms, factor, anchor: Instant::now() }
    }
    /// Simulated milliseconds per real millisecond.
    pub fn factor(&self) -> f64 {
        self.factor
    }
}

impl Clock for ScaledClock {
    fn now_ms(&self) -> i64 {
        let real_ms = self.anchor.elapsed().as_secs_f64() * 1000.0;
        self.start_ms.saturating_add((real_ms * self.factor) as i64)
    }
    fn real_until(&self, at_ms: i64) -> Duration {
        let ahead = at_ms.saturating_sub(self.now_ms());
        if ahead <= 0 {
            return Duration::ZERO;
        }
        // Round up to whole real microseconds so that waking up never lands before `at_ms`.
        Duration::from_micros((ahead as f64 * 1000.0 / self.factor).ceil() as u64)
    }
    fn started_at_ms(&self) -> i64 {
        self.start_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_clock_runs_fast() {
        let c = ScaledClock::new(1_000_000, 1000.0);
        assert!(c.now_ms() >= 1_000_000);
        assert_eq!(c.started_at_ms(), 1_000_000);
        let wait = c.real_until(c.now_ms() + 60_000);
        assert!(wait <= Duration::from_millis(60) && wait >= Duration::from_millis(50), "{wait:?}");
        assert_eq!(c.real_until(0), Duration::ZERO);
        let s = SystemClock;
        assert!(s.now_ms() > 1_700_000_000_000);
        assert_eq!(s.real_until(0), Duration::ZERO);
    }
}
