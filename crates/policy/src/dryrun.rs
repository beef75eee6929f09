//! The synthetic inputs of the dry run.
//!
//! Every rule's expressions (guard, check and reason placeholders, each on its own, whatever the
//! other rules say) must evaluate without error, to the right kind of value, on every input here.
//! The inputs cover the domain the chain can really produce:
//!
//! - every meter that can be registered: each energy kind with each of its allowed units, the
//!   register kind that goes with the unit (rate units are instantaneous), in four variants of
//!   register maximum (down to one micro-unit), rated capacity (including 0 = unknown) and accuracy
//!   class;
//! - for each meter, a set of scenarios: first reading (no previous), normal interval, rollover,
//!   a decrease, equal timestamps (zero interval), out-of-order, future and late timestamps,
//!   off-grid and clock-suspect readings, negative values, the extremes of a reading's fields
//!   (`i64::MIN`/`i64::MAX` timestamps, ±9.2×10¹² values — the range of a fixed-point quantity —,
//!   sequence 0 and `u64::MAX`), blocks at time 0 with zero windows and in the year 2100 with a
//!   one-year window; every origin and both clock flags rotate through them.
//!
//! Block facts stay realistic (a chain sets them): time in [0, 2100-01-01], skew and window in
//! [0, 1 year]. Reading and previous facts are what a gateway signed, so they take any value.

use crate::input::{AuditInput, BlockFacts, MeterFacts, PreviousFacts, ReadingFacts, energy_name, register_name};
use trustmeter_types::{EnergyKind, RegisterKind};

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const QUARTER: i64 = 15 * 60_000;
/// 2025-01-01T00:00:00Z, on the 15-minute grid.
const T0: i64 = 1_735_689_600_000;
/// 2100-01-01T00:00:00Z.
const T2100: i64 = 4_102_444_800_000;
/// The largest magnitude of a fixed-point quantity (i64 micro-units), as a double.
const QMAX: f64 = i64::MAX as f64 / 1e6;

/// One synthetic input and a description of it for messages.
pub(crate) struct Sample {
    pub input: AuditInput,
    pub label: String,
}

struct MeterVariant {
    register_max: f64,
    rated_per_hour: f64,
    accuracy_class: f64,
}

const VARIANTS: [MeterVariant; 4] = [
    MeterVariant { register_max: 99_999_999.99, rated_per_hour: 5_000.0, accuracy_class: 0.5 },
    MeterVariant { register_max: 9_999.99, rated_per_hour: 0.0, accuracy_class: 1.0 },
    MeterVariant { register_max: 0.000_001, rated_per_hour: 0.000_001, accuracy_class: 0.2 },
    MeterVariant { register_max: QMAX, rated_per_hour: QMAX, accuracy_class: 655.35 },
];

const ORIGINS: [&str; 3] = ["online", "manual", "imported"];

/// A scenario: reading time and value, previous reading, block, given the meter's register max.
struct Scenario {
    label: &'static str,
    build: fn(max: f64) -> (i64, f64, Option<PreviousFacts>, BlockFacts),
}

fn block(timestamp_ms: i64) -> BlockFacts {
    BlockFacts { timestamp_ms, max_future_skew_ms: 5 * 60_000, late_window_ms: 30 * DAY }
}

fn prev(timestamp_ms: i64, value: f64) -> Option<PreviousFacts> {
    Some(PreviousFacts { timestamp_ms, value })
}

const SCENARIOS: &[Scenario] = &[
    Scenario { label: "first reading, value 0", build: |_| (T0, 0.0, None, block(T0)) },
    Scenario { label: "first reading, mid-range value", build: |max| (T0 - QUARTER, max / 2.0, None, block(T0)) },
    Scenario {
        label: "normal 15-minute interval",
        build: |max| (T0, max * 0.5 + 1.0, prev(T0 - QUARTER, max * 0.5), block(T0 + QUARTER)),
    },
    Scenario { label: "rollover", build: |max| (T0, max * 0.02, prev(T0 - QUARTER, max * 0.95), block(T0)) },
    Scenario {
        label: "decrease without rollover",
        build: |max| (T0, max * 0.4, prev(T0 - QUARTER, max * 0.5), block(T0)),
    },
    Scenario {
        label: "same timestamp and value as previous",
        build: |max| (T0, max / 3.0, prev(T0, max / 3.0), block(T0)),
    },
    Scenario { label: "same timestamp, higher value", build: |max| (T0, max / 2.0, prev(T0, max / 4.0), block(T0)) },
    Scenario {
        label: "older than previous (out of order)",
        build: |max| (T0 - HOUR, max / 4.0, prev(T0, max / 2.0), block(T0 + HOUR)),
    },
    Scenario {
        label: "in the future",
        build: |max| (T0 + 5 * 60_000 + 1, max / 2.0, prev(T0 - QUARTER, 0.0), block(T0)),
    },
    Scenario {
        label: "older than the late window",
        build: |max| (T0 - 30 * DAY - 1, max / 2.0, prev(T0 - 31 * DAY, 0.0), block(T0)),
    },
    Scenario {
        label: "61 s off the grid",
        build: |max| (T0 + 61_000, max / 2.0, prev(T0 - QUARTER, max / 2.0), block(T0 + HOUR)),
    },
    Scenario {
        label: "timestamps at i64::MIN / i64::MAX",
        build: |max| (i64::MIN, max, prev(i64::MAX, 0.0), block(T0)),
    },
    Scenario {
        label: "timestamps at i64::MAX / i64::MIN",
        build: |max| (i64::MAX, max / 2.0, prev(i64::MIN, 0.0), block(T0)),
    },
    Scenario { label: "values at +max / -max quantity", build: |_| (T0, QMAX, prev(T0 - 1, -QMAX), block(T0)) },
    Scenario { label: "values at -max / +max quantity", build: |_| (T0, -QMAX, prev(T0 - QUARTER, QMAX), block(T0)) },
    Scenario { label: "negative value, no previous", build: |_| (T0, -1.0, None, block(T0)) },
    Scenario { label: "value at the register maximum", build: |max| (T0, max, prev(T0 - QUARTER, max), block(T0)) },
    Scenario {
        label: "smallest steps (1 ms, one micro-unit)",
        build: |_| (T0, 0.000_002, prev(T0 - 1, 0.000_001), block(T0)),
    },
    Scenario {
        label: "block at time 0 with zero windows",
        build: |_| (0, 0.0, prev(0, 0.0), BlockFacts { timestamp_ms: 0, max_future_skew_ms: 0, late_window_ms: 0 }),
    },
    Scenario {
        label: "block in 2100 with a one-year window",
        build: |max| {
            (
                T2100 - 7,
                max / 2.0,
                prev(-1, max / 3.0),
                BlockFacts { timestamp_ms: T2100, max_future_skew_ms: DAY, late_window_ms: 365 * DAY },
            )
        },
    },
];

/// Every meter that can be registered, as (energy, unit symbol, register kind).
fn meters() -> Vec<(EnergyKind, &'static str, RegisterKind)> {
    let mut out = Vec::new();
    for kind in EnergyKind::ALL {
        for unit in kind.allowed_units() {
            let register = if unit.is_rate() { RegisterKind::Instantaneous } else { RegisterKind::Cumulative };
            out.push((kind, unit.symbol(), register));
        }
    }
    out
}

/// The dry run's inputs, in a fixed order.
pub(crate) fn samples() -> Vec<Sample> {
    let meters = meters();
    let mut out = Vec::with_capacity(meters.len() * SCENARIOS.len());
    for (m, (kind, unit, register)) in meters.iter().enumerate() {
        for (s, scenario) in SCENARIOS.iter().enumerate() {
            let variant = &VARIANTS[(m + s) % VARIANTS.len()];
            let (timestamp_ms, value, previous, block) = (scenario.build)(variant.register_max);
            let origin = ORIGINS[(m + s) % ORIGINS.len()];
            let clock_suspect = (m + s) % 2 == 1;
            let seq = match s % 3 {
                0 => 0,
                1 => u64::MAX,
                _ => 42,
            };
            let meter_id = if s % 2 == 0 { "M-1".to_owned() } else { "M".repeat(64) };
            let input = AuditInput {
                reading: ReadingFacts {
                    meter: meter_id,
                    seq,
                    timestamp_ms,
                    value,
                    unit: (*unit).to_owned(),
                    origin: origin.to_owned(),
                    clock_suspect,
                },
                meter: MeterFacts {
                    energy: energy_name(*kind).to_owned(),
                    unit: (*unit).to_owned(),
                    register: register_name(*register).to_owned(),
                    register_max: variant.register_max,
                    rated_per_hour: variant.rated_per_hour,
                    accuracy_class: variant.accuracy_class,
                },
                previous,
                block,
            };
            let label = format!(
                "{} ({} meter in {unit}, {}, register max {}, rated {}/h; {origin}{})",
                scenario.label,
                energy_name(*kind),
                register_name(*register),
                variant.register_max,
                variant.rated_per_hour,
                if clock_suspect { ", clock suspect" } else { "" }
            );
            out.push(Sample { input, label });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registrable_meter_meets_every_scenario() {
        let samples = samples();
        assert_eq!(meters().len(), 38);
        assert_eq!(samples.len(), 38 * SCENARIOS.len());
        assert_eq!(SCENARIOS.len(), 20);
        for kind in EnergyKind::ALL {
            assert!(samples.iter().any(|s| s.input.meter.energy == energy_name(kind)));
        }
        for origin in ORIGINS {
            assert!(samples.iter().any(|s| s.input.reading.origin == origin));
        }
        assert!(samples.iter().any(|s| s.input.previous.is_none()));
        assert!(samples.iter().any(|s| s.input.reading.timestamp_ms == i64::MIN));
        assert!(samples.iter().all(|s| s.input.reading.unit == s.input.meter.unit));
    }
}
