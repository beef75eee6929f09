//! Energy kinds, units and fixed-point quantities.
//!
//! Quantities in state are integers: [`Quantity`] holds millionths of its unit in an `i64`
//! (±9.2 × 10¹² units, enough for a year of any plant's largest register). Formulas that need
//! fractions work in `f64` and round once, at the boundary, with [`Quantity::from_f64_round`].

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A kind of energy or energy-consuming working medium (耗能工质), following the categories of
/// the energy statistics forms (205-1) and GB/T 2589.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum EnergyKind {
    /// Electricity (电力).
    Electricity = 0,
    /// Fresh water (新水), a working medium.
    Water = 1,
    /// Natural gas (天然气).
    NaturalGas = 2,
    /// Steam (蒸汽), part of heat (热力).
    Steam = 3,
    /// Heat other than steam, e.g. hot water (热力).
    Heat = 4,
    /// Raw coal (原煤).
    RawCoal = 5,
    /// Coke (焦炭).
    Coke = 6,
    /// Fuel oil (燃料油).
    FuelOil = 7,
    /// Diesel (柴油).
    Diesel = 8,
    /// Gasoline (汽油).
    Gasoline = 9,
    /// Liquefied petroleum gas (液化石油气).
    Lpg = 10,
    /// Liquefied natural gas (液化天然气).
    Lng = 11,
    /// Compressed air (压缩空气), a working medium.
    CompressedAir = 12,
    /// Oxygen (氧气), a working medium.
    Oxygen = 13,
    /// Nitrogen (氮气), a working medium.
    Nitrogen = 14,
    /// Kerosene (煤油).
    Kerosene = 15,
}

impl EnergyKind {
    /// Every kind, in tag order.
    pub const ALL: [EnergyKind; 16] = [
        EnergyKind::Electricity,
        EnergyKind::Water,
        EnergyKind::NaturalGas,
        EnergyKind::Steam,
        EnergyKind::Heat,
        EnergyKind::RawCoal,
        EnergyKind::Coke,
        EnergyKind::FuelOil,
        EnergyKind::Diesel,
        EnergyKind::Gasoline,
        EnergyKind::Lpg,
        EnergyKind::Lng,
        EnergyKind::CompressedAir,
        EnergyKind::Oxygen,
        EnergyKind::Nitrogen,
        EnergyKind::Kerosene,
    ];

    /// The snake_case name, as serialised (`electricity`, `natural_gas`, …).
    pub fn name(self) -> &'static str {
        match self {
            EnergyKind::Electricity => "electricity",
            EnergyKind::Water => "water",
            EnergyKind::NaturalGas => "natural_gas",
            EnergyKind::Steam => "steam",
            EnergyKind::Heat => "heat",
            EnergyKind::RawCoal => "raw_coal",
            EnergyKind::Coke => "coke",
            EnergyKind::FuelOil => "fuel_oil",
            EnergyKind::Diesel => "diesel",
            EnergyKind::Gasoline => "gasoline",
            EnergyKind::Lpg => "lpg",
            EnergyKind::Lng => "lng",
            EnergyKind::CompressedAir => "compressed_air",
            EnergyKind::Oxygen => "oxygen",
            EnergyKind::Nitrogen => "nitrogen",
            EnergyKind::Kerosene => "kerosene",
        }
    }

    /// The kind of a snake_case name.
    pub fn from_name(name: &str) -> Option<EnergyKind> {
        EnergyKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The Chinese statistical name.
    pub fn chinese_name(self) -> &'static str {
        match self {
            EnergyKind::Electricity => "电力",
            EnergyKind::Water => "新水",
            EnergyKind::NaturalGas => "天然气",
            EnergyKind::Steam => "蒸汽",
            EnergyKind::Heat => "热力",
            EnergyKind::RawCoal => "原煤",
            EnergyKind::Coke => "焦炭",
            EnergyKind::FuelOil => "燃料油",
            EnergyKind::Diesel => "柴油",
            EnergyKind::Gasoline => "汽油",
            EnergyKind::Lpg => "液化石油气",
            EnergyKind::Lng => "液化天然气",
            EnergyKind::CompressedAir => "压缩空气",
            EnergyKind::Oxygen => "氧气",
            EnergyKind::Nitrogen => "氮气",
            EnergyKind::Kerosene => "煤油",
        }
    }

    /// Whether this is an energy-consuming working medium (耗能工质) rather than an energy.
    pub fn is_working_medium(self) -> bool {
        matches!(self, EnergyKind::Water | EnergyKind::CompressedAir | EnergyKind::Oxygen | EnergyKind::Nitrogen)
    }

    /// Units a meter of this kind may report in.
    pub fn allowed_units(self) -> &'static [Unit] {
        use Unit::*;
        match self {
            EnergyKind::Electricity => &[KilowattHour, MegawattHour, Kilowatt],
            EnergyKind::Water => &[CubicMetre, Tonne],
            EnergyKind::NaturalGas => &[NormalCubicMetre, CubicMetre],
            EnergyKind::Steam => &[Tonne, Gigajoule, TonnePerHour],
            EnergyKind::Heat => &[Gigajoule, Megajoule],
            EnergyKind::RawCoal | EnergyKind::Coke => &[Tonne, Kilogram],
            EnergyKind::FuelOil | EnergyKind::Diesel | EnergyKind::Gasoline | EnergyKind::Kerosene => {
                &[Tonne, Kilogram, Litre]
            }
            EnergyKind::Lpg | EnergyKind::Lng => &[Tonne, Kilogram],
            EnergyKind::CompressedAir | EnergyKind::Oxygen | EnergyKind::Nitrogen => &[NormalCubicMetre, CubicMetre],
        }
    }
}

/// A unit of measure. Instantaneous (rate) units are used with instantaneous registers.
///
/// Spelled one way everywhere, by its symbol (`kWh`, `m3`, `Nm3`, `t/h`, …: [`Unit::symbol`]): in
/// JSON (transactions, records, proofs, figures), query parameters, configuration files and
/// reports. The older snake-case names (`kilowatt_hour`) are still read ([`Unit::parse`]).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Unit {
    /// kWh.
    #[serde(rename = "kWh", alias = "kilowatt_hour")]
    KilowattHour = 0,
    /// MWh.
    #[serde(rename = "MWh", alias = "megawatt_hour")]
    MegawattHour = 1,
    /// m³ at working conditions.
    #[serde(rename = "m3", alias = "cubic_metre")]
    CubicMetre = 2,
    /// Nm³ (normal cubic metres, 0 °C and 101.325 kPa).
    #[serde(rename = "Nm3", alias = "normal_cubic_metre")]
    NormalCubicMetre = 3,
    /// t.
    #[serde(rename = "t", alias = "tonne")]
    Tonne = 4,
    /// kg.
    #[serde(rename = "kg", alias = "kilogram")]
    Kilogram = 5,
    /// GJ.
    #[serde(rename = "GJ", alias = "gigajoule")]
    Gigajoule = 6,
    /// MJ.
    #[serde(rename = "MJ", alias = "megajoule")]
    Megajoule = 7,
    /// L.
    #[serde(rename = "L", alias = "litre")]
    Litre = 8,
    /// kW (instantaneous power).
    #[serde(rename = "kW", alias = "kilowatt")]
    Kilowatt = 9,
    /// t/h (instantaneous steam flow).
    #[serde(rename = "t/h", alias = "tonne_per_hour")]
    TonnePerHour = 10,
}

impl Unit {
    /// Every unit, in tag order.
    pub const ALL: [Unit; 11] = [
        Unit::KilowattHour,
        Unit::MegawattHour,
        Unit::CubicMetre,
        Unit::NormalCubicMetre,
        Unit::Tonne,
        Unit::Kilogram,
        Unit::Gigajoule,
        Unit::Megajoule,
        Unit::Litre,
        Unit::Kilowatt,
        Unit::TonnePerHour,
    ];

    /// The unit with this symbol (`kWh`, `m3`, `Nm3`, `t/h`, …).
    pub fn from_symbol(s: &str) -> Option<Unit> {
        Self::ALL.into_iter().find(|u| u.symbol() == s)
    }

    /// The unit's symbol: its one spelling in JSON, queries and reports.
    pub fn symbol(self) -> &'static str {
        match self {
            Unit::KilowattHour => "kWh",
            Unit::MegawattHour => "MWh",
            Unit::CubicMetre => "m3",
            Unit::NormalCubicMetre => "Nm3",
            Unit::Tonne => "t",
            Unit::Kilogram => "kg",
            Unit::Gigajoule => "GJ",
            Unit::Megajoule => "MJ",
            Unit::Litre => "L",
            Unit::Kilowatt => "kW",
            Unit::TonnePerHour => "t/h",
        }
    }
    /// The unit a person or a file names: its symbol (any case; `m³` for `m3`) or its older
    /// snake-case name (`kilowatt_hour`).
    pub fn parse(text: &str) -> Option<Unit> {
        let t = text.trim().replace('³', "3");
        Self::from_symbol(&t).or_else(|| Self::ALL.into_iter().find(|u| u.symbol().eq_ignore_ascii_case(&t))).or_else(
            || {
                let name = t.to_ascii_lowercase().replace('-', "_");
                Self::ALL.into_iter().find(|u| u.legacy_name() == name)
            },
        )
    }

    /// The older snake-case name (read, never written).
    fn legacy_name(self) -> &'static str {
        match self {
            Unit::KilowattHour => "kilowatt_hour",
            Unit::MegawattHour => "megawatt_hour",
            Unit::CubicMetre => "cubic_metre",
            Unit::NormalCubicMetre => "normal_cubic_metre",
            Unit::Tonne => "tonne",
            Unit::Kilogram => "kilogram",
            Unit::Gigajoule => "gigajoule",
            Unit::Megajoule => "megajoule",
            Unit::Litre => "litre",
            Unit::Kilowatt => "kilowatt",
            Unit::TonnePerHour => "tonne_per_hour",
        }
    }

    /// Whether this unit measures a rate rather than an amount.
    pub fn is_rate(self) -> bool {
        matches!(self, Unit::Kilowatt | Unit::TonnePerHour)
    }
}

/// How a meter's register behaves.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[borsh(use_discriminant = true)]
#[serde(rename_all = "snake_case")]
#[repr(u8)]
pub enum RegisterKind {
    /// A cumulative (totalising) register: consumption is the difference of two readings. It rolls
    /// over to zero past the meter's register maximum.
    Cumulative = 0,
    /// An instantaneous value (power, flow): consumption is integrated over time; a negative
    /// value flows the other way (export).
    Instantaneous = 1,
    /// A cumulative register of energy sent *out* (反向有功总, e.g. electricity fed to the grid):
    /// the same rules as [`RegisterKind::Cumulative`], but what it counts is export, not
    /// consumption. A bidirectional meter is registered as two meters, its forward register
    /// `Cumulative` and its reverse register `CumulativeExport`.
    CumulativeExport = 2,
}

impl RegisterKind {
    /// Whether the register totalises (readings never fall except by rollover or replacement).
    pub fn is_cumulative(self) -> bool {
        matches!(self, RegisterKind::Cumulative | RegisterKind::CumulativeExport)
    }
}

/// A fixed-point quantity: millionths of a unit, in an `i64`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Quantity(pub i64);

impl Quantity {
    /// Scale: micro-units per unit.
    pub const SCALE: i64 = 1_000_000;

    /// From millionths of a unit.
    pub const fn from_micros(micros: i64) -> Self {
        Quantity(micros)
    }
    /// Millionths of a unit.
    pub const fn micros(self) -> i64 {
        self.0
    }
    /// From a floating-point amount, rounding half away from zero to the nearest millionth.
    /// Returns `None` for NaN, infinities and values out of range.
    pub fn from_f64_round(v: f64) -> Option<Self> {
        if !v.is_finite() {
            return None;
        }
        let scaled = (v * Self::SCALE as f64).round();
        if scaled.abs() > i64::MAX as f64 * 0.999 {
            return None;
        }
        Some(Quantity(scaled as i64))
    }
    /// As `f64` (display and analytics only; never fed back into state).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / Self::SCALE as f64
    }
    /// Longest decimal text of a quantity: sign, 13 integer digits, point, 6 decimals.
    pub const DECIMAL_MAX: usize = 21;
    /// The exact decimal text (`-12.345600`: sign, integer part, six decimals), written into
    /// `buf` without the formatting machinery (series of 10⁵ points format ~10⁶ of these).
    pub fn decimal(self, buf: &mut [u8; Self::DECIMAL_MAX]) -> &str {
        let abs = self.0.unsigned_abs();
        let (mut int, mut frac) = (abs / 1_000_000, abs % 1_000_000);
        let mut i = buf.len();
        for _ in 0..6 {
            i -= 1;
            buf[i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        i -= 1;
        buf[i] = b'.';
        loop {
            i -= 1;
            buf[i] = b'0' + (int % 10) as u8;
            int /= 10;
            if int == 0 {
                break;
            }
        }
        if self.0 < 0 {
            i -= 1;
            buf[i] = b'-';
        }
        std::str::from_utf8(&buf[i..]).expect("ASCII digits")
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.decimal(&mut [0; Self::DECIMAL_MAX]))
    }
}
impl fmt::Debug for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn energy_names_are_the_serialised_names() {
        for k in EnergyKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::Value::String(k.name().into()));
            assert_eq!(EnergyKind::from_name(k.name()), Some(k));
        }
        assert_eq!(EnergyKind::from_name("Electricity"), None);
    }

    #[test]
    fn quantity_rounds_once_and_displays_exactly() {
        assert_eq!(Quantity::from_f64_round(1.0000005).unwrap().micros(), 1_000_001);
        assert_eq!(Quantity::from_f64_round(-2.5).unwrap().to_string(), "-2.500000");
        assert_eq!(Quantity::from_micros(123_456_789).to_string(), "123.456789");
        // The fast formatter against the arithmetic definition, at the edges and in between.
        for v in [0, 1, -1, 999_999, -999_999, 1_000_000, -1_000_000, 120_000_001, i64::MAX, i64::MIN, i64::MIN + 1] {
            let sign = if v < 0 { "-" } else { "" };
            let want = format!("{sign}{}.{:06}", v.unsigned_abs() / 1_000_000, v.unsigned_abs() % 1_000_000);
            assert_eq!(Quantity::from_micros(v).to_string(), want, "{v}");
        }
        assert_eq!(Quantity::from_micros(i64::MIN).to_string().len(), Quantity::DECIMAL_MAX);
        assert!(Quantity::from_f64_round(f64::NAN).is_none());
        assert!(Quantity::from_f64_round(1e20).is_none());
    }

    #[test]
    fn the_required_kinds_exist_with_units() {
        for k in EnergyKind::ALL {
            assert!(!k.allowed_units().is_empty(), "{k:?}");
        }
        assert!(EnergyKind::CompressedAir.is_working_medium());
        assert!(!EnergyKind::Steam.is_working_medium());
        assert!(EnergyKind::Electricity.allowed_units().contains(&Unit::KilowattHour));
    }
}
