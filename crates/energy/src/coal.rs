//! Standard-coal conversion (折标准煤) per GB/T 2589-2020 综合能耗计算通则.
//!
//! 1 kgce (千克标准煤) = 29 307.6 kJ = 7 000 kcal of low heating value. An amount converts as
//! `kgce = amount × coefficient`, where the coefficient is
//!
//! - a measured low heating value ÷ 29 307.6 kJ, when one is given (preferred by the standard), or
//! - the reference coefficient of the [`ReferenceSet`] (参考折标系数), or
//! - for electricity on the equal-value basis (等价值), the yearly power-supply coal rate.
//!
//! **Arithmetic and the one rounding rule.** Amounts are `i64` micro-units; coefficients are exact
//! [`Decimal`]s parsed from the data files. The coefficient per *input* unit is the exact product
//! of the unit ratio (MWh→kWh ×1000, t→kg ×1000, L→kg × density, …) and the reference
//! coefficient; the product `amount × coefficient` is computed exactly in `i128` and rounded
//! **once, half to even, to a micro-kgce** (银行家舍入到 1 微千克标准煤). No floating point.

use crate::reference::{Decimal, ReferenceSet, YEARS, div_round_half_even};
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;
use trustmeter_types::{EnergyKind, Unit};

/// kJ per kgce (千克标准煤的低位发热量): 29 307.6 kJ = 7 000 kcal × 4.1868 kJ/kcal.
pub const KJ_PER_KGCE: Decimal = Decimal::new(293_076, 1);

/// Which electricity coefficient to use (电力折标方法).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElectricityBasis {
    /// Equivalent value (当量值): the energy content of electricity, 3 600 kJ/kWh → 0.1229 kgce/kWh.
    Equivalent,
    /// Equal value (等价值): the coal burnt to generate and supply it, the previous year's national
    /// average power-supply coal rate (供电标准煤耗), a yearly parameter.
    EqualValue,
}

/// A measured low heating value (实测低位发热量) that overrides the default coefficient:
/// `kgce = amount × kj_per_unit / 29 307.6`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasuredHeatingValue {
    /// kJ per unit of the *coefficient row* of the kind (the unit of [`crate::reference::CoalFactor::unit`]):
    /// per kg for solid and liquid fuels, per Nm³ for gases, per t for steam (the enthalpy rise
    /// h_steam − h_feedwater, in kJ/kg, × 1 000).
    pub kj_per_unit: Decimal,
}

/// A converted amount and how it was obtained.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conversion {
    /// Standard coal (标准煤), micro-kgce.
    pub kgce_micros: i64,
    /// kgce per *input* unit used (exact, except for `measured_lhv` and `steam_enthalpy`, where it
    /// is the exact ratio rounded half to even to 10 decimal places for display only: the amount
    /// is computed from the exact ratio).
    pub coefficient: Decimal,
    /// The reference set id that produced the figure (参考数据版本).
    pub reference: String,
    /// `"default_coefficient"`, `"measured_lhv"`, `"steam_enthalpy"` (steam with a measured
    /// enthalpy rise) or `"equal_value_YEAR"` (e.g. `"equal_value_2025"`).
    pub method: &'static str,
}

/// Why an amount could not be converted (折标失败).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CoalError {
    /// The reference set has no coefficient for this kind (or no density to convert its litres).
    #[error("reference data has no standard-coal coefficient for {kind:?} in {}", unit.symbol())]
    NoFactor {
        /// The energy kind.
        kind: EnergyKind,
        /// The unit asked for.
        unit: Unit,
    },
    /// No electricity equal value (等价值) for this year.
    #[error("reference data has no electricity equal value (等价值) for {year}")]
    NoEqualValue {
        /// The accounting year.
        year: i32,
    },
    /// The unit cannot be converted to the coefficient's unit (e.g. a rate, or m³ at working
    /// conditions for a gas priced per Nm³).
    #[error("cannot convert {kind:?} in {}: {reason}", unit.symbol())]
    UnitMismatch {
        /// The energy kind.
        kind: EnergyKind,
        /// The unit given.
        unit: Unit,
        /// Why, and what would work.
        reason: String,
    },
    /// A measured value or enthalpy that cannot be used.
    #[error("invalid input: {reason}")]
    InvalidInput {
        /// What is wrong.
        reason: &'static str,
    },
    /// The result does not fit (`i64` micro-kgce) or an intermediate overflowed `i128`.
    #[error("arithmetic overflow converting to standard coal")]
    Overflow,
}

/// Method labels `equal_value_YEAR` for every year a reference set may name.
static EQUAL_VALUE_LABELS: LazyLock<Vec<String>> =
    LazyLock::new(|| YEARS.map(|y| format!("equal_value_{y}")).collect());

fn equal_value_label(year: i32) -> &'static str {
    usize::try_from(year - YEARS.start())
        .ok()
        .and_then(|i| EQUAL_VALUE_LABELS.get(i))
        .map_or("equal_value", |s| s.as_str())
}

const THOUSAND: Decimal = Decimal::new(1000, 0);
const THOUSANDTH: Decimal = Decimal::new(1, 3);

/// The exact factor converting an amount in `from` to the row's unit `to`, without density.
fn plain_ratio(from: Unit, to: Unit) -> Option<Decimal> {
    use Unit::*;
    match (from, to) {
        _ if from == to => Some(Decimal::ONE),
        (MegawattHour, KilowattHour) | (Tonne, Kilogram) | (Gigajoule, Megajoule) => Some(THOUSAND),
        (KilowattHour, MegawattHour) | (Kilogram, Tonne) | (Megajoule, Gigajoule) => Some(THOUSANDTH),
        _ => None,
    }
}

fn is_energy_unit(u: Unit) -> bool {
    matches!(u, Unit::KilowattHour | Unit::MegawattHour | Unit::Gigajoule | Unit::Megajoule)
}

/// `round_half_even(amount_micros × coef)`, exactly.
fn mul_round(amount_micros: i64, coef: Decimal) -> Result<i64, CoalError> {
    let n = i128::from(amount_micros).checked_mul(coef.mantissa).ok_or(CoalError::Overflow)?;
    let d = Decimal::pow10(coef.scale).ok_or(CoalError::Overflow)?;
    i64::try_from(div_round_half_even(n, d)).map_err(|_| CoalError::Overflow)
}

/// `round_half_even(amount_micros × coefficient)`: what [`to_kgce`] computes from the
/// coefficient it returns, for its `default_coefficient` and `equal_value_*` methods. A series of
/// many amounts of one kind, unit and year looks the coefficient up once (a conversion with
/// amount 0) and applies it here, with the same result to the micro.
pub fn apply_coefficient(amount_micros: i64, coefficient: Decimal) -> Result<i64, CoalError> {
    mul_round(amount_micros, coefficient)
}

/// `round_half_even(amount_micros × factor / 29 307.6)`, exactly; and the display coefficient.
fn div_kgce(amount_micros: i64, factor: Decimal) -> Result<(i64, Decimal), CoalError> {
    // kgce = amount × f.m / 10^f.s / (293 076 / 10) = amount × f.m × 10 / (10^f.s × 293 076)
    let num = factor.mantissa.checked_mul(10).ok_or(CoalError::Overflow)?;
    let den = Decimal::pow10(factor.scale).and_then(|p| p.checked_mul(293_076)).ok_or(CoalError::Overflow)?;
    let n = i128::from(amount_micros).checked_mul(num).ok_or(CoalError::Overflow)?;
    let kgce = i64::try_from(div_round_half_even(n, den)).map_err(|_| CoalError::Overflow)?;
    let shown = num.checked_mul(10i128.pow(10)).map(|x| div_round_half_even(x, den)).ok_or(CoalError::Overflow)?;
    Ok((kgce, Decimal::new(shown, 10)))
}

/// Converts `amount_micros` of `kind` in `unit` to standard coal with the reference set `refs`.
///
/// - `basis` matters for electricity only; `year` for the equal-value basis only (the accounting
///   year whose 等价值 row is used).
/// - `measured` (a measured low heating value, per the coefficient row's unit) overrides the
///   default coefficient for fuels and media; it is refused for energy already in kWh/MJ/GJ.
/// - Units: kWh↔MWh, kg↔t, MJ↔GJ ×1000; litres via the set's density (kg/L); other units only
///   where the row lists them in `same_as` (fresh water: m³ = t). Gases are per Nm³: m³ at working
///   conditions is refused. Rates (kW, t/h) are refused: a rate is not an amount.
pub fn to_kgce(
    refs: &ReferenceSet,
    kind: EnergyKind,
    unit: Unit,
    amount_micros: i64,
    basis: ElectricityBasis,
    year: i32,
    measured: Option<&MeasuredHeatingValue>,
) -> Result<Conversion, CoalError> {
    let mismatch = |reason: String| CoalError::UnitMismatch { kind, unit, reason };
    if unit.is_rate() {
        return Err(mismatch(format!(
            "{} is a rate, not an amount: integrate it over time (kWh, t) first",
            unit.symbol()
        )));
    }
    if kind == EnergyKind::Electricity && basis == ElectricityBasis::EqualValue {
        if measured.is_some() {
            return Err(CoalError::InvalidInput { reason: "electricity has no heating value to measure" });
        }
        let ratio = plain_ratio(unit, Unit::KilowattHour)
            .ok_or_else(|| mismatch("the equal value (等价值) is per kWh; give kWh or MWh".into()))?;
        let ev = refs.equal_value(year).ok_or(CoalError::NoEqualValue { year })?;
        let coefficient = ratio.checked_mul(ev.kgce_per_kwh).ok_or(CoalError::Overflow)?;
        return Ok(Conversion {
            kgce_micros: mul_round(amount_micros, coefficient)?,
            coefficient,
            reference: refs.id.clone(),
            method: equal_value_label(year),
        });
    }

    let rows: Vec<_> = refs.factors(kind).collect();
    if rows.is_empty() {
        return Err(CoalError::NoFactor { kind, unit });
    }
    // Direct matches first (the row's own unit or a documented `same_as`), then unit ratios, then
    // litres through the density.
    let direct = rows.iter().find(|r| r.unit == unit || r.same_as.contains(&unit)).map(|r| (*r, Decimal::ONE));
    let scaled = || rows.iter().find_map(|r| plain_ratio(unit, r.unit).map(|q| (*r, q)));
    let (row, ratio) = match direct.or_else(scaled) {
        Some(found) => found,
        None if unit == Unit::Litre => {
            let density = refs.density(kind).ok_or(CoalError::NoFactor { kind, unit })?;
            let (row, q) = rows
                .iter()
                .find_map(|r| plain_ratio(Unit::Kilogram, r.unit).map(|q| (*r, q)))
                .ok_or(CoalError::NoFactor { kind, unit })?;
            (row, q.checked_mul(density.kg_per_litre).ok_or(CoalError::Overflow)?)
        }
        None => {
            let per: Vec<&str> = rows.iter().map(|r| r.unit.symbol()).collect();
            let hint = if unit == Unit::CubicMetre {
                ": m³ at working conditions is not Nm³; correct the volume to standard conditions \
                 (0 °C, 101.325 kPa) first"
            } else {
                ""
            };
            return Err(mismatch(format!("the coefficient is per {}{hint}", per.join(" or "))));
        }
    };

    if let Some(m) = measured {
        if is_energy_unit(row.unit) {
            return Err(CoalError::InvalidInput {
                reason: "a measured heating value applies to fuels and media, not to energy metered in kWh/MJ/GJ",
            });
        }
        if m.kj_per_unit.signum() <= 0 {
            return Err(CoalError::InvalidInput { reason: "the measured heating value must be positive" });
        }
        let factor = ratio.checked_mul(m.kj_per_unit).ok_or(CoalError::Overflow)?;
        let (kgce_micros, coefficient) = div_kgce(amount_micros, factor)?;
        let method = if kind == EnergyKind::Steam { "steam_enthalpy" } else { "measured_lhv" };
        return Ok(Conversion { kgce_micros, coefficient, reference: refs.id.clone(), method });
    }

    let coefficient = ratio.checked_mul(row.coefficient).ok_or(CoalError::Overflow)?;
    Ok(Conversion {
        kgce_micros: mul_round(amount_micros, coefficient)?,
        coefficient,
        reference: refs.id.clone(),
        method: "default_coefficient",
    })
}

/// Steam by enthalpy (蒸汽按焓值折标): `kgce = mass(kg) × (h_steam − h_feedwater) / 29 307.6`,
/// with `mass_micros_t` in micro-tonnes and enthalpies in kJ/kg. Result in micro-kgce, rounded
/// once (half to even). The enthalpy rise must be positive.
pub fn steam_by_enthalpy(
    mass_micros_t: i64,
    h_steam_kj_per_kg: Decimal,
    h_feedwater_kj_per_kg: Decimal,
) -> Result<i64, CoalError> {
    let s = h_steam_kj_per_kg.scale.max(h_feedwater_kj_per_kg.scale);
    let align = |d: Decimal| Decimal::pow10(s - d.scale).and_then(|p| d.mantissa.checked_mul(p));
    let rise = align(h_steam_kj_per_kg)
        .zip(align(h_feedwater_kj_per_kg))
        .and_then(|(a, b)| a.checked_sub(b))
        .ok_or(CoalError::Overflow)?;
    if rise <= 0 {
        return Err(CoalError::InvalidInput { reason: "steam enthalpy must exceed the feedwater enthalpy" });
    }
    // Per tonne: × 1 000 kg/t.
    let per_tonne = Decimal::new(rise, s).checked_mul(THOUSAND).ok_or(CoalError::Overflow)?;
    Ok(div_kgce(mass_micros_t, per_tonne)?.0)
}

/// Comprehensive energy consumption (综合能耗), micro-kgce.
///
/// GB/T 2589-2020 scope: the sum, over the reporting period and boundary, of all energy actually
/// consumed — primary energy (一次能源), secondary energy (二次能源) and the energy-consuming working
/// media (耗能工质: fresh water, compressed air, oxygen, nitrogen, …) obtained from outside the
/// boundary, each already converted to standard coal — minus the energy supplied outward
/// (输出的能源: exported electricity, heat, recovered energy delivered to others). Working media
/// produced inside the boundary are not added again (their energy is already counted in the
/// electricity or fuel that made them): pass only purchased media in `parts`. The kinds in `parts`
/// are for the caller's breakdown; every part is added as given. Exact integer sum (no rounding),
/// saturating at the `i64` range.
pub fn comprehensive(parts: &[(EnergyKind, i64)], exported_kgce_micros: i64) -> i64 {
    let consumed: i128 = parts.iter().map(|(_, v)| i128::from(*v)).sum();
    (consumed - i128::from(exported_kgce_micros)).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Energy consumption per unit of product (单位产品综合能耗): micro-kgce per output unit, i.e.
/// `comprehensive × 10⁶ / output_micros` rounded half to even. `None` for zero or negative output,
/// or a result out of `i64`.
pub fn unit_product(comprehensive_kgce_micros: i64, output_micros: i64) -> Option<i64> {
    if output_micros <= 0 {
        return None;
    }
    let n = i128::from(comprehensive_kgce_micros) * 1_000_000;
    i64::try_from(div_round_half_even(n, i128::from(output_micros))).ok()
}
