//! Activity data from metered energy: what the chain's consensus daily figures say an enterprise
//! consumed and exported, summed over a period, turned into a methodology's activity data.
//!
//! - Electricity (kWh, MWh) → `electricity.purchased` / `electricity.exported` in MWh.
//! - Heat and steam in GJ or MJ → `heat.purchased` / `heat.exported` in GJ. Steam in tonnes needs
//!   its enthalpy, which a daily figure does not carry: it is reported as unconverted.
//! - A fuel → the methodology's fuel whose `energy_kind` it is, in the fuel's unit (kg → t,
//!   Nm³ → 10⁴ Nm³). m³ at working conditions needs a temperature and pressure correction and
//!   litres a density: unconverted. A kind no fuel of the methodology claims (raw coal, whose type
//!   the meter does not know): unconverted.
//! - Working media (water, compressed air, oxygen, nitrogen) are not emission sources here.
//!
//! Nothing is dropped silently: every amount that could not be converted comes back with the
//! reason, for the report and for the enterprise to enter as documented data instead.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use trustmeter_types::{EnergyKind, Unit as MeterUnit};

use crate::activity::{Activity, FuelUse};
use crate::document::Methodology;

/// Metered energy of one kind and unit over a period (sums of daily figures).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metered {
    /// Energy kind.
    pub energy: EnergyKind,
    /// The unit the figures are in.
    pub unit: MeterUnit,
    /// Consumed, micro-units.
    pub consumed: i64,
    /// Exported, micro-units.
    pub exported: i64,
}

/// An amount that could not become activity data, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unconverted {
    /// Energy kind.
    pub energy: EnergyKind,
    /// Unit.
    pub unit: MeterUnit,
    /// Consumed, micro-units.
    pub consumed: i64,
    /// Exported, micro-units.
    pub exported: i64,
    /// Why.
    pub reason: String,
}

fn micro(v: i64) -> Decimal {
    Decimal::new(v, 6)
}

/// The activity data of `metered` for methodology `m`, with what could not be converted.
pub fn activity_from_metered(
    m: &Methodology,
    year: i32,
    province: &str,
    metered: &[Metered],
) -> (Activity, Vec<Unconverted>) {
    let mut a = Activity::new(year, province);
    let mut fuels: BTreeMap<String, Decimal> = BTreeMap::new();
    let mut unconverted = Vec::new();
    let thousand = Decimal::from(1_000);
    for x in metered {
        let (consumed, exported) = (micro(x.consumed.max(0)), micro(x.exported.max(0)));
        let mut refuse = |reason: String| {
            unconverted.push(Unconverted {
                energy: x.energy,
                unit: x.unit,
                consumed: x.consumed,
                exported: x.exported,
                reason,
            })
        };
        match x.energy {
            k if k.is_working_medium() => {}
            EnergyKind::Electricity => {
                let per_mwh = match x.unit {
                    MeterUnit::KilowattHour => thousand,
                    MeterUnit::MegawattHour => Decimal::ONE,
                    u => {
                        refuse(format!("electricity in {} is not energy; figures are in kWh or MWh", u.symbol()));
                        continue;
                    }
                };
                a.electricity.purchased += consumed / per_mwh;
                a.electricity.exported += exported / per_mwh;
            }
            EnergyKind::Heat | EnergyKind::Steam => {
                let per_gj = match x.unit {
                    MeterUnit::Gigajoule => Decimal::ONE,
                    MeterUnit::Megajoule => thousand,
                    u => {
                        refuse(format!(
                            "{} in {} needs its enthalpy to become GJ; enter the heat in GJ as documented data",
                            x.energy.name(),
                            u.symbol()
                        ));
                        continue;
                    }
                };
                a.heat.purchased += consumed / per_gj;
                a.heat.exported += exported / per_gj;
            }
            kind => {
                let Some(fuel) = m.fuels.values().find(|f| f.energy_kind.as_deref() == Some(kind.name())) else {
                    refuse(format!(
                        "no fuel of {} v{} is metered as {}; enter it as a documented fuel (e.g. the coal's type)",
                        m.id,
                        m.version,
                        kind.name()
                    ));
                    continue;
                };
                let factor = match (fuel.unit.to_string().as_str(), x.unit) {
                    ("t", MeterUnit::Tonne) => Decimal::ONE,
                    ("t", MeterUnit::Kilogram) => thousand,
                    ("e4Nm3", MeterUnit::NormalCubicMetre) => Decimal::from(10_000),
                    (fu, u) => {
                        refuse(format!(
                            "{} in {} does not convert to {fu} without a correction (temperature and pressure, or density)",
                            kind.name(),
                            u.symbol()
                        ));
                        continue;
                    }
                };
                if x.exported > 0 {
                    unconverted.push(Unconverted {
                        energy: x.energy,
                        unit: x.unit,
                        consumed: 0,
                        exported: x.exported,
                        reason: format!("{} exported is not an emission source; only consumption counts", kind.name()),
                    });
                }
                *fuels.entry(fuel.id.clone()).or_default() += consumed / factor;
            }
        }
    }
    a.fuels =
        fuels.into_iter().map(|(fuel, amount)| FuelUse { fuel, amount, ncv: None, carbon_content: None }).collect();
    (a, unconverted)
}
