//! Shared helpers of the integration tests.
#![allow(dead_code)]

use trustmeter_policy::{AuditInput, BlockFacts, MeterFacts, PreviousFacts, ReadingFacts};

/// 2025-01-01T00:00:00Z, on the 15-minute grid.
pub const T0: i64 = 1_735_689_600_000;
pub const Q: i64 = 900_000;
pub const DAY: i64 = 86_400_000;

/// An ordinary reading of a cumulative electricity meter: 15 minutes after the previous one, +10 kWh,
/// online, on the grid, recorded in a block at the same time. The default policy accepts it.
pub fn base() -> AuditInput {
    AuditInput {
        reading: ReadingFacts {
            meter: "M-001".into(),
            seq: 7,
            timestamp_ms: T0,
            value: 1_010.0,
            unit: "kWh".into(),
            origin: "online".into(),
            clock_suspect: false,
        },
        meter: MeterFacts {
            energy: "electricity".into(),
            unit: "kWh".into(),
            register: "cumulative".into(),
            register_max: 100_000.0,
            rated_per_hour: 100.0,
            accuracy_class: 0.5,
        },
        previous: Some(PreviousFacts { timestamp_ms: T0 - Q, value: 1_000.0 }),
        block: BlockFacts { timestamp_ms: T0, max_future_skew_ms: 300_000, late_window_ms: 30 * DAY },
    }
}

/// An instantaneous power meter (kW) reading.
pub fn instantaneous(value: f64) -> AuditInput {
    let mut i = base();
    i.meter.unit = "kW".into();
    i.meter.register = "instantaneous".into();
    i.meter.rated_per_hour = 0.0;
    i.reading.unit = "kW".into();
    i.reading.value = value;
    i
}

/// SplitMix64, for reproducible random inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    /// A double that is often an edge value.
    pub fn value(&mut self, max: f64) -> f64 {
        match self.below(8) {
            0 => 0.0,
            1 => max,
            2 => -1.0,
            3 => max * 0.95,
            _ => (self.next() >> 11) as f64 / (1u64 << 53) as f64 * max,
        }
    }
}

/// A random input over a wide range (not only plausible ones).
pub fn random_input(rng: &mut Rng) -> AuditInput {
    let meters: [(&str, &str, &str); 6] = [
        ("electricity", "kWh", "cumulative"),
        ("electricity", "kW", "instantaneous"),
        ("steam", "t/h", "instantaneous"),
        ("natural_gas", "Nm3", "cumulative"),
        ("water", "m3", "cumulative"),
        ("coke", "t", "cumulative"),
    ];
    let (energy, unit, register) = *rng.pick(&meters);
    let register_max = *rng.pick(&[1e-6, 9_999.99, 99_999_999.99, 9.2e12]);
    let rated = *rng.pick(&[0.0, 1.0, 500.0, 1e9]);
    let block_ts = T0 + rng.below(1_000) as i64 * Q / 7;
    let ts = match rng.below(6) {
        0 => i64::MIN + rng.below(10) as i64,
        1 => i64::MAX - rng.below(10) as i64,
        _ => block_ts - (rng.below(40 * 96) as i64 - 10) * Q / 4 + rng.below(3) as i64 * 70_000,
    };
    let previous = (rng.below(5) != 0).then(|| PreviousFacts {
        timestamp_ms: ts.wrapping_sub((rng.below(9) as i64 - 2) * Q),
        value: rng.value(register_max),
    });
    AuditInput {
        reading: ReadingFacts {
            meter: format!("M-{}", rng.below(100)),
            seq: rng.next(),
            timestamp_ms: ts,
            value: rng.value(register_max),
            unit: unit.into(),
            origin: (*rng.pick(&["online", "manual", "imported"])).into(),
            clock_suspect: rng.below(10) == 0,
        },
        meter: MeterFacts {
            energy: energy.into(),
            unit: unit.into(),
            register: register.into(),
            register_max,
            rated_per_hour: rated,
            accuracy_class: 0.5,
        },
        previous,
        block: BlockFacts { timestamp_ms: block_ts, max_future_skew_ms: 300_000, late_window_ms: 30 * DAY },
    }
}

/// A minimal valid document with the given rules (TOML fragments) and params.
pub fn doc(params: &str, rules: &str) -> String {
    format!("name = \"test\"\nversion = 1\ndescription = \"a test policy\"\n\n[params]\n{params}\n\n{rules}\n")
}

/// One rule as a TOML fragment.
pub fn rule(id: &str, action: &str, when: Option<&str>, check: &str, reason: &str) -> String {
    let when = when.map(|w| format!("when = '''{w}'''\n")).unwrap_or_default();
    format!(
        "[[rules]]\nid = \"{id}\"\ncode = \"{id}\"\naction = \"{action}\"\n{when}check = '''{check}'''\nreason = '''{reason}'''\ndescription = \"test rule {id}\"\n\n"
    )
}
