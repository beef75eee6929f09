//! Time on the gateway: the 15-minute grid of Asia/Shanghai, and detection of clock jumps and
//! drift (so that bad timestamps are flagged, never silently produced).

use chrono::{Offset, TimeZone};
use chrono_tz::Asia::Shanghai;
use std::time::Instant;

/// Length of a metering interval (15 minutes).
pub const INTERVAL_MS: i64 = 15 * 60_000;
/// How far from a grid boundary a reading may be and still count as on the grid (±1 minute).
pub const ALIGNMENT_TOLERANCE_MS: i64 = 60_000;

/// UTC offset of Asia/Shanghai at `t_ms`, in milliseconds.
fn shanghai_offset_ms(t_ms: i64) -> i64 {
    let utc = chrono::DateTime::from_timestamp_millis(t_ms).unwrap_or_default().naive_utc();
    i64::from(Shanghai.offset_from_utc_datetime(&utc).fix().local_minus_utc()) * 1_000
}

/// The 15-minute boundary (in Asia/Shanghai local time, as Unix ms) that `t_ms` lies within ±1
/// minute of, or `None` for an off-grid timestamp.
pub fn grid_boundary(t_ms: i64) -> Option<i64> {
    let off = shanghai_offset_ms(t_ms);
    let local = t_ms + off;
    let nearest = (local + INTERVAL_MS / 2).div_euclid(INTERVAL_MS) * INTERVAL_MS;
    ((local - nearest).abs() <= ALIGNMENT_TOLERANCE_MS).then_some(nearest - off)
}

/// Local date and time of `t_ms` in Asia/Shanghai, `YYYY-MM-DD HH:MM:SS`.
pub fn local_text(t_ms: i64) -> String {
    match Shanghai.timestamp_millis_opt(t_ms) {
        chrono::LocalResult::Single(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
        _ => format!("{t_ms} ms"),
    }
}

/// Watches the gateway clock against the monotonic clock (jumps) and against the chains' block
/// times (drift). While either is out of bounds, new readings are flagged `clock_suspect`.
#[derive(Debug)]
pub struct ClockGuard {
    rate: f64,
    max_step_ms: i64,
    max_drift_ms: i64,
    base: Option<(Instant, i64)>,
    /// The last jump seen (size in ms, at gateway time), not yet confirmed good by a chain.
    jump: Option<(i64, i64)>,
    /// The last measured drift against a chain, in ms (positive: the gateway is ahead).
    drift: Option<i64>,
}

/// What a clock observation found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClockState {
    /// Within bounds.
    Good,
    /// The clock jumped by this many milliseconds (relative to the monotonic clock).
    Jumped(i64),
    /// The clock differs from the chains' time by this many milliseconds.
    Drifted(i64),
}

impl ClockGuard {
    /// A guard for a clock advancing `rate` clock-ms per real ms (1 for a real clock).
    pub fn new(rate: f64, max_step_ms: i64, max_drift_ms: i64) -> Self {
        Self { rate, max_step_ms, max_drift_ms, base: None, jump: None, drift: None }
    }

    /// Observes the clock reading `now_ms` (taken just now); returns whether timestamps taken
    /// now are suspect. A jump rebases the guard, and stays suspect until a chain's time
    /// confirms the clock ([`ClockGuard::observe_chain`]).
    pub fn observe(&mut self, now_ms: i64) -> bool {
        let real_now = Instant::now();
        if let Some((at, ms)) = self.base {
            let expected = ms + (real_now.duration_since(at).as_secs_f64() * 1_000.0 * self.rate) as i64;
            let step = now_ms - expected;
            // The bound scales with the rate: an accelerated clock moves further per scheduling
            // hiccup.
            if step.abs() > (self.max_step_ms as f64 * self.rate.max(1.0)) as i64 {
                tracing::warn!(step_ms = step, "gateway clock jumped relative to the monotonic clock");
                self.jump = Some((step, now_ms));
            }
        }
        self.base = Some((real_now, now_ms));
        self.suspect()
    }

    /// Records a chain's latest block time `chain_ms` seen when the gateway clock read
    /// `local_ms`. A drift beyond the bound makes readings suspect; a good comparison clears a
    /// pending jump.
    pub fn observe_chain(&mut self, local_ms: i64, chain_ms: i64) {
        let drift = local_ms - chain_ms;
        self.drift = Some(drift);
        if drift.abs() <= self.max_drift_ms {
            self.jump = None;
        }
    }

    /// Whether timestamps are suspect now.
    pub fn suspect(&self) -> bool {
        self.state() != ClockState::Good
    }

    /// The current finding.
    pub fn state(&self) -> ClockState {
        if let Some((step, _)) = self.jump {
            return ClockState::Jumped(step);
        }
        match self.drift {
            Some(d) if d.abs() > self.max_drift_ms => ClockState::Drifted(d),
            _ => ClockState::Good,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_is_the_shanghai_quarter_hour_with_one_minute_tolerance() {
        // 2026-01-05 00:00 Asia/Shanghai = 2026-01-04T16:00:00Z.
        let midnight = 1_767_542_400_000;
        assert_eq!(grid_boundary(midnight), Some(midnight));
        assert_eq!(grid_boundary(midnight + 60_000), Some(midnight));
        assert_eq!(grid_boundary(midnight - 60_000), Some(midnight));
        assert_eq!(grid_boundary(midnight + 60_001), None);
        assert_eq!(grid_boundary(midnight + 7 * 60_000), None);
        assert_eq!(grid_boundary(midnight + 14 * 60_000 + 30_000), Some(midnight + INTERVAL_MS));
        assert_eq!(local_text(midnight), "2026-01-05 00:00:00");
        assert_eq!(local_text(midnight + INTERVAL_MS + 1_000), "2026-01-05 00:15:01");
    }

    #[test]
    fn a_jump_is_suspect_until_a_chain_confirms_the_clock() {
        let mut g = ClockGuard::new(1.0, 2_000, 60_000);
        let t = 1_767_542_400_000;
        assert!(!g.observe(t));
        assert!(!g.observe(t + 1)); // a millisecond later: consistent with the monotonic clock
        assert!(g.observe(t + 3_600_000)); // an hour forward within microseconds: a jump
        assert!(matches!(g.state(), ClockState::Jumped(s) if s > 3_500_000));
        assert!(g.observe(t + 3_600_001)); // still suspect
        // A chain far away keeps it suspect (drift); a chain that agrees clears it.
        g.observe_chain(t + 3_600_001, t);
        assert!(g.suspect());
        g.observe_chain(t + 3_600_001, t + 3_600_000);
        assert!(!g.suspect());
        g.observe_chain(t, t + 61_000);
        assert_eq!(g.state(), ClockState::Drifted(-61_000));
    }
}
