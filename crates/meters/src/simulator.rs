//! A simulated meter for the demo and tests, following the simulated plant's load shape
//! ([`trustmeter_plant::time::production_factor`]: three shifts, lunch dip, weekends, all in
//! Asia/Shanghai time).
//!
//! Time from the origin (the clock's start) is cut into [`SIMULATOR_SLOT_MS`] slots. Slot `k`
//! consumes `rated_per_hour × slot hours × production_factor(slot midpoint) × (1 + noise × u_k)`,
//! rounded to a micro-unit, where `u_k` is uniform in `[-1, 1]`, drawn from ChaCha8 seeded with
//! `seed` on stream `k`. The register at time `t` is `start` plus every whole slot before `t` plus
//! the elapsed fraction of the current slot (integer arithmetic), modulo `register_max` when set.
//! It is a pure function of `(source, origin, t)`: the same seed gives the same values however
//! often it is polled. An instantaneous point reads `rated_per_hour × production_factor(t) ×
//! (1 + noise × u_k)` instead.
//!
//! A **master meter** (总表, [`SimulatorSource::sub_meters`]) records its sub-meters: slot `k`
//! consumes the sum of their slot-`k` consumptions × `(1 + loss × (1 + 0.25 × u_k))`, rounded to
//! a micro-unit — their sum plus a line or pipe loss that varies by ±25 % around `loss` — so its
//! register and theirs balance as a real incoming meter's and its feeders' do.

use crate::config::SimulatorSource;
use crate::error::DriverError;
use crate::limits::SIMULATOR_SLOT_MS;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trustmeter_plant::time::production_factor;
use trustmeter_types::{Quantity, RegisterKind};

/// One simulated register.
#[derive(Clone, Debug)]
pub struct SimulatedMeter {
    source: SimulatorSource,
    kind: RegisterKind,
    origin_ms: i64,
    /// Slots `[0, cursor)` are summed in `consumed` (micro-units).
    cursor: i64,
    consumed: i128,
    /// For a master meter: its sub-meters (ordinary meters of the same origin).
    subs: Vec<SimulatedMeter>,
    /// For a master meter: a listed sub-meter that is not a simulator point.
    missing: Option<String>,
}

impl SimulatedMeter {
    /// A meter whose register shows `source.start` at `origin_ms`.
    pub fn new(source: SimulatorSource, kind: RegisterKind, origin_ms: i64) -> Self {
        SimulatedMeter { source, kind, origin_ms, cursor: 0, consumed: 0, subs: vec![], missing: None }
    }

    /// A master meter whose register shows `source.start` at `origin_ms` and then advances by the
    /// consumption of the meters `subs` finds for its `sub_meters` plus the loss (see the module
    /// documentation). A sub-meter `subs` does not find makes every read fail, naming it.
    pub fn master(
        source: SimulatorSource,
        kind: RegisterKind,
        origin_ms: i64,
        mut subs: impl FnMut(&trustmeter_types::DeviceId) -> Option<SimulatorSource>,
    ) -> Self {
        let mut m = Self::new(source, kind, origin_ms);
        for id in m.source.sub_meters.clone() {
            match subs(&id) {
                Some(mut s) => {
                    s.sub_meters.clear();
                    m.subs.push(SimulatedMeter::new(s, RegisterKind::Cumulative, origin_ms));
                }
                None => {
                    m.missing.get_or_insert_with(|| format!("sub-meter {id} is not a simulator point of this gateway"));
                }
            }
        }
        m
    }

    fn uniform(&self, slot: i64) -> f64 {
        let mut rng = ChaCha8Rng::seed_from_u64(self.source.seed);
        rng.set_stream(slot as u64);
        rng.random_range(-1.0..=1.0)
    }

    fn noise(&self, slot: i64) -> f64 {
        if self.source.noise == 0.0 {
            return 0.0;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(self.source.seed);
        rng.set_stream(slot as u64);
        self.source.noise * rng.random_range(-1.0..=1.0)
    }

    fn slot_start(&self, slot: i64) -> i64 {
        self.origin_ms + slot * SIMULATOR_SLOT_MS
    }

    /// Consumption of slot `k`, micro-units.
    fn slot_micros(&self, slot: i64) -> i128 {
        if !self.subs.is_empty() {
            let sum: i128 = self.subs.iter().map(|s| s.slot_micros(slot)).sum();
            let loss = self.source.loss * (1.0 + 0.25 * self.uniform(slot));
            return (sum as f64 * (1.0 + loss)).round() as i128;
        }
        let mid = self.slot_start(slot) + SIMULATOR_SLOT_MS / 2;
        let hours = SIMULATOR_SLOT_MS as f64 / 3_600_000.0;
        let amount = self.source.rated_per_hour * hours * production_factor(mid) * (1.0 + self.noise(slot));
        (amount.max(0.0) * 1e6).round() as i128
    }

    /// The value at `t_ms` (values before the origin are the start value).
    pub fn value_at(&mut self, t_ms: i64) -> Result<Quantity, DriverError> {
        if let Some(why) = &self.missing {
            return Err(DriverError::Simulator(why.clone()));
        }
        if self.kind == RegisterKind::Instantaneous {
            let slot = (t_ms - self.origin_ms).div_euclid(SIMULATOR_SLOT_MS);
            let v = self.source.rated_per_hour * production_factor(t_ms) * (1.0 + self.noise(slot));
            return Quantity::from_f64_round(v).ok_or_else(|| {
                DriverError::Simulator(format!("rated_per_hour {} gives no valid value", self.source.rated_per_hour))
            });
        }
        let elapsed = t_ms.saturating_sub(self.origin_ms).max(0);
        let full = elapsed / SIMULATOR_SLOT_MS;
        if full < self.cursor {
            // Asked for an earlier time: start over (values are a pure function of time).
            self.cursor = 0;
            self.consumed = 0;
        }
        while self.cursor < full {
            self.consumed += self.slot_micros(self.cursor);
            self.cursor += 1;
        }
        let part = elapsed % SIMULATOR_SLOT_MS;
        let partial = self.slot_micros(full) * i128::from(part) / i128::from(SIMULATOR_SLOT_MS);
        let mut total = i128::from(self.source.start.micros()) + self.consumed + partial;
        if let Some(max) = self.source.register_max {
            total = total.rem_euclid(i128::from(max.micros()));
        }
        i64::try_from(total)
            .map(Quantity::from_micros)
            .map_err(|_| DriverError::Simulator("register value beyond the i64 range; set register_max".into()))
    }
}
