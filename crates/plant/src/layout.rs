//! The plant's physical layout: workshops, lines, equipment and per-kind meter parameters.

use trustmeter_types::{EnergyKind, Unit};

/// A workshop (车间) of the simulated vehicle plant.
pub(crate) struct Workshop {
    /// English id, used as a location segment.
    pub id: &'static str,
    /// Chinese name, used in meter names.
    pub zh: &'static str,
    /// Share of the plant's meters installed here.
    pub share: f64,
    /// Number of production lines.
    pub lines: u32,
    /// Meter kinds installed here, with relative weights.
    pub kinds: &'static [(EnergyKind, f64)],
    /// Kinds of equipment on its lines.
    pub equipment: &'static [&'static str],
    /// Mean fraction of rated load drawn regardless of production (heating, idling, leaks).
    pub base_load: f64,
}

use EnergyKind::{CompressedAir as Air, Electricity as Elec, NaturalGas as Gas, Steam, Water};

/// 冲压 / 焊装 / 涂装 / 总装 / 动力站 of a vehicle plant.
#[rustfmt::skip]
pub(crate) const WORKSHOPS: [Workshop; 5] = [
    ws("stamping", "冲压车间", 0.18, 3, &[(Elec, 0.8), (Air, 0.15), (Water, 0.05)], &["press", "blanking", "die-change"], 0.15),
    ws("welding", "焊装车间", 0.26, 4, &[(Elec, 0.75), (Air, 0.15), (Water, 0.1)], &["robot-cell", "spot-welder", "conveyor"], 0.15),
    ws("painting", "涂装车间", 0.22, 2, &[(Elec, 0.5), (Gas, 0.15), (Steam, 0.12), (Water, 0.13), (Air, 0.1)], &["pretreatment", "e-coat", "spray-booth", "oven"], 0.35),
    ws("assembly", "总装车间", 0.22, 3, &[(Elec, 0.8), (Air, 0.15), (Water, 0.05)], &["trim", "chassis", "final", "test-bench"], 0.12),
    ws("utilities", "动力站", 0.12, 2, &[(Elec, 0.5), (Gas, 0.15), (Water, 0.15), (Steam, 0.1), (Air, 0.1)], &["air-compressor", "boiler", "chiller", "pump"], 0.5),
];

const fn ws(
    id: &'static str,
    zh: &'static str,
    share: f64,
    lines: u32,
    kinds: &'static [(EnergyKind, f64)],
    equipment: &'static [&'static str],
    base_load: f64,
) -> Workshop {
    Workshop { id, zh, share, lines, kinds, equipment, base_load }
}

/// Register and sizing parameters of one meter kind.
pub(crate) struct KindParams {
    /// Register unit.
    pub unit: Unit,
    /// Register maximum in micro-units (the register counts modulo this value).
    pub register_max_micros: i64,
    /// Range of rated hourly consumption, in register units per hour.
    pub rated: (f64, f64),
    /// Accuracy class in hundredths of a percent.
    pub accuracy: u16,
    /// Two-letter tag in device ids.
    pub tag: &'static str,
    /// For media other than electricity: the pipe branch the meter sits on (instead of equipment).
    pub branch: Option<&'static str>,
}

/// Parameters for the kinds the plant meters.
pub(crate) fn kind_params(kind: EnergyKind) -> KindParams {
    let (unit, max, rated, accuracy, tag, branch) = match kind {
        Elec => (Unit::KilowattHour, 9_999_999_999i64, (5.0, 600.0), 50, "EM", None),
        Water => (Unit::CubicMetre, 999_999_999, (0.2, 20.0), 200, "WM", Some("water-branch")),
        Gas => (Unit::NormalCubicMetre, 999_999_999, (5.0, 300.0), 150, "GM", Some("gas-branch")),
        Steam => (Unit::Tonne, 99_999_999, (0.1, 6.0), 100, "SM", Some("steam-branch")),
        Air => (Unit::NormalCubicMetre, 9_999_999_999, (30.0, 1500.0), 150, "AM", Some("air-branch")),
        other => unreachable!("the plant has no {other:?} meters"),
    };
    // `max` is in hundredths of a unit (e.g. 99 999 999.99 kWh); convert to micro-units.
    KindParams { unit, register_max_micros: max * 10_000, rated, accuracy, tag, branch }
}

/// Picks from weighted choices with `u` uniform in `[0, 1)`.
pub(crate) fn pick<T: Copy>(choices: &[(T, f64)], u: f64) -> T {
    let total: f64 = choices.iter().map(|c| c.1).sum();
    let mut x = u * total;
    for &(c, w) in choices {
        if x < w {
            return c;
        }
        x -= w;
    }
    choices[choices.len() - 1].0
}

/// Whether item `i` is in an evenly spread `share` of a sequence (exactly `floor(n·share)` of the
/// first `n` items are).
pub(crate) fn evenly_selected(i: usize, share: f64) -> bool {
    ((i + 1) as f64 * share).floor() > (i as f64 * share).floor()
}
