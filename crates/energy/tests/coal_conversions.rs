//! Standard-coal conversion against the reference coefficients (GB/T 2589-2020).

use trustmeter_energy::coal::{
    CoalError, ElectricityBasis, MeasuredHeatingValue, comprehensive, steam_by_enthalpy, to_kgce, unit_product,
};
use trustmeter_energy::reference::{Decimal, LATEST, ReferenceSet, builtin};
use trustmeter_types::{EnergyKind, Unit};

use ElectricityBasis::{EqualValue, Equivalent};
use EnergyKind::*;

const M: i64 = 1_000_000;

fn dec(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

fn refs() -> &'static ReferenceSet {
    builtin(LATEST).unwrap()
}

fn kgce(kind: EnergyKind, unit: Unit, amount: i64) -> i64 {
    to_kgce(refs(), kind, unit, amount, Equivalent, 2025, None).unwrap().kgce_micros
}

#[test]
fn electricity_on_both_bases() {
    let c = to_kgce(refs(), Electricity, Unit::KilowattHour, 1_000 * M, Equivalent, 2025, None).unwrap();
    assert_eq!(c.kgce_micros, 122_900_000); // 1 000 kWh → 122.9 kgce 当量
    assert_eq!(c.coefficient.to_string(), "0.1229");
    assert_eq!(c.method, "default_coefficient");
    assert_eq!(c.reference, "cn-2026.1");

    let e = to_kgce(refs(), Electricity, Unit::KilowattHour, 1_000 * M, EqualValue, 2025, None).unwrap();
    assert_eq!(e.kgce_micros, 300 * M); // 300 kgce 等价 at 0.3000
    assert_eq!(e.method, "equal_value_2025");
    assert_eq!(e.coefficient.to_string(), "0.3000");
    let e20 = to_kgce(refs(), Electricity, Unit::MegawattHour, M, EqualValue, 2020, None).unwrap();
    assert_eq!((e20.kgce_micros, e20.method), (300 * M, "equal_value_2020"));

    assert_eq!(kgce(Electricity, Unit::MegawattHour, M), 122_900_000);
    assert_eq!(
        to_kgce(refs(), Electricity, Unit::KilowattHour, M, EqualValue, 2019, None),
        Err(CoalError::NoEqualValue { year: 2019 })
    );
}

#[test]
fn fuels_heat_steam_and_media() {
    assert_eq!(kgce(Diesel, Unit::Tonne, M), 1_457_100_000); // 1 t diesel → 1 457.1 kgce
    assert_eq!(kgce(Diesel, Unit::Kilogram, M), 1_457_100);
    assert_eq!(kgce(Heat, Unit::Gigajoule, M), 34_120_000); // 1 GJ → 34.12 kgce
    assert_eq!(kgce(Heat, Unit::Megajoule, 1_000 * M), 34_120_000);
    assert_eq!(kgce(Steam, Unit::Gigajoule, M), 34_120_000);
    assert_eq!(kgce(Steam, Unit::Tonne, M), 94_100_000);
    assert_eq!(kgce(Steam, Unit::Kilogram, 1_000 * M), 94_100_000);
    assert_eq!(kgce(RawCoal, Unit::Kilogram, M), 714_300);
    assert_eq!(kgce(Coke, Unit::Tonne, M), 971_400_000);
    assert_eq!(kgce(FuelOil, Unit::Kilogram, M), 1_428_600);
    assert_eq!(kgce(Gasoline, Unit::Kilogram, M), 1_471_400);
    assert_eq!(kgce(Kerosene, Unit::Kilogram, M), 1_471_400);
    assert_eq!(kgce(Lpg, Unit::Kilogram, M), 1_714_300);
    assert_eq!(kgce(Lng, Unit::Tonne, M), 1_757_200_000);
    assert_eq!(kgce(NaturalGas, Unit::NormalCubicMetre, 10_000 * M), 12_143 * M); // 12.143 tce / 10⁴ m³
    assert_eq!(kgce(Water, Unit::Tonne, M), 85_700);
    assert_eq!(kgce(Water, Unit::CubicMetre, 10 * M), 857_000); // fresh water: m³ = t (documented)
    assert_eq!(kgce(CompressedAir, Unit::NormalCubicMetre, M), 40_000);
    assert_eq!(kgce(Oxygen, Unit::NormalCubicMetre, M), 400_000);
    assert_eq!(kgce(Nitrogen, Unit::NormalCubicMetre, M), 400_000);
}

#[test]
fn litres_go_through_the_density() {
    // 1 000 L diesel × 0.840 kg/L × 1.4571 kgce/kg = 1 223.964 kgce.
    let c = to_kgce(refs(), Diesel, Unit::Litre, 1_000 * M, Equivalent, 2025, None).unwrap();
    assert_eq!(c.kgce_micros, 1_223_964_000);
    assert_eq!(c.coefficient.value_cmp(&dec("1.223964")), std::cmp::Ordering::Equal);
    assert_eq!(kgce(Gasoline, Unit::Litre, 1_000 * M), 1_066_765_000); // 725 kg × 1.4714
    let mut no_density = refs().clone();
    no_density.densities.clear();
    assert_eq!(
        to_kgce(&no_density, Diesel, Unit::Litre, M, Equivalent, 2025, None),
        Err(CoalError::NoFactor { kind: Diesel, unit: Unit::Litre })
    );
}

#[test]
fn measured_heating_value_overrides_the_default() {
    let lhv = MeasuredHeatingValue { kj_per_unit: dec("25000") };
    let c = to_kgce(refs(), RawCoal, Unit::Kilogram, M, Equivalent, 2025, Some(&lhv)).unwrap();
    assert_eq!(c.kgce_micros, 853_021); // 25 000 / 29 307.6 = 0.853021…
    assert_eq!(c.method, "measured_lhv");
    assert_eq!(c.coefficient.to_string(), "0.8530210594");
    let t = to_kgce(refs(), RawCoal, Unit::Tonne, M, Equivalent, 2025, Some(&lhv)).unwrap();
    assert_eq!(t.kgce_micros, 853_021_059); // per tonne, from the exact ratio (not 1000 × the rounded kg figure)
    // Gas with the supplier's heating value per Nm³: 38 931 kJ → 1.3283… kgce.
    let gas = MeasuredHeatingValue { kj_per_unit: dec("38931") };
    let g = to_kgce(refs(), NaturalGas, Unit::NormalCubicMetre, M, Equivalent, 2025, Some(&gas)).unwrap();
    assert_eq!(g.kgce_micros, 1_328_359);
    // Steam with a measured enthalpy rise per t: 2 756.7 MJ/t.
    let rise = MeasuredHeatingValue { kj_per_unit: dec("2756700") };
    let s = to_kgce(refs(), Steam, Unit::Tonne, M, Equivalent, 2025, Some(&rise)).unwrap();
    assert_eq!((s.kgce_micros, s.method), (94_060_926, "steam_enthalpy"));
    // Not for energy already in kWh/MJ, and not non-positive.
    for (kind, unit) in [(Electricity, Unit::KilowattHour), (Heat, Unit::Gigajoule), (Steam, Unit::Gigajoule)] {
        let r = to_kgce(refs(), kind, unit, M, Equivalent, 2025, Some(&lhv));
        assert!(matches!(r, Err(CoalError::InvalidInput { .. })), "{kind:?}: {r:?}");
    }
    let r = to_kgce(refs(), Electricity, Unit::KilowattHour, M, EqualValue, 2025, Some(&lhv));
    assert!(matches!(r, Err(CoalError::InvalidInput { .. })));
    let zero = MeasuredHeatingValue { kj_per_unit: dec("0") };
    let r = to_kgce(refs(), RawCoal, Unit::Kilogram, M, Equivalent, 2025, Some(&zero));
    assert!(matches!(r, Err(CoalError::InvalidInput { .. })));
}

#[test]
fn steam_by_enthalpy_matches_the_default() {
    // 1 t, h_s − h_fw = 2 756.7 kJ/kg → 94.060926 kgce (the default 94.1 is this, rounded).
    assert_eq!(steam_by_enthalpy(M, dec("2756.7"), dec("0")).unwrap(), 94_060_926);
    // Same rise from real enthalpies: 2 776.2 − 19.5 (scales differ: 2776.20 − 19.5).
    assert_eq!(steam_by_enthalpy(M, dec("2776.20"), dec("19.5")).unwrap(), 94_060_926);
    assert_eq!(steam_by_enthalpy(2 * M, dec("2756.7"), dec("0")).unwrap(), 188_121_852);
    assert!(matches!(steam_by_enthalpy(M, dec("100"), dec("100")), Err(CoalError::InvalidInput { .. })));
    assert_eq!(steam_by_enthalpy(i64::MAX, dec("3000"), dec("0")), Err(CoalError::Overflow));
}

#[test]
fn versioning_is_real() {
    let old = builtin("cn-2008.1").unwrap();
    let c = to_kgce(old, Water, Unit::Tonne, M, Equivalent, 2020, None).unwrap();
    assert_eq!((c.kgce_micros, c.reference.as_str()), (257_100, "cn-2008.1"));
    let n = to_kgce(refs(), Water, Unit::Tonne, M, Equivalent, 2020, None).unwrap();
    assert_eq!((n.kgce_micros, n.reference.as_str()), (85_700, "cn-2026.1"));
}

#[test]
fn units_that_are_not_amounts_or_not_documented_are_refused() {
    let r = to_kgce(refs(), Electricity, Unit::Kilowatt, M, Equivalent, 2025, None);
    assert!(matches!(&r, Err(CoalError::UnitMismatch { reason, .. }) if reason.contains("rate")), "{r:?}");
    let r = to_kgce(refs(), Steam, Unit::TonnePerHour, M, Equivalent, 2025, None);
    assert!(matches!(r, Err(CoalError::UnitMismatch { .. })));
    let r = to_kgce(refs(), Electricity, Unit::KilowattHour, M, EqualValue, 2025, None);
    assert!(r.is_ok());
    let r = to_kgce(refs(), Electricity, Unit::Gigajoule, M, EqualValue, 2025, None);
    assert!(matches!(r, Err(CoalError::UnitMismatch { .. })));
    for kind in [NaturalGas, CompressedAir, Oxygen, Nitrogen] {
        let r = to_kgce(refs(), kind, Unit::CubicMetre, M, Equivalent, 2025, None);
        assert!(
            matches!(&r, Err(CoalError::UnitMismatch { reason, .. }) if reason.contains("working conditions")),
            "{kind:?}: {r:?}"
        );
    }
    let r = to_kgce(refs(), RawCoal, Unit::Litre, M, Equivalent, 2025, None);
    assert_eq!(r, Err(CoalError::NoFactor { kind: RawCoal, unit: Unit::Litre }));
    let mut empty = refs().clone();
    empty.coal.clear();
    assert_eq!(
        to_kgce(&empty, Diesel, Unit::Kilogram, M, Equivalent, 2025, None),
        Err(CoalError::NoFactor { kind: Diesel, unit: Unit::Kilogram })
    );
    assert_eq!(
        to_kgce(refs(), Electricity, Unit::MegawattHour, i64::MAX, Equivalent, 2025, None),
        Err(CoalError::Overflow)
    );
    // Errors read well.
    let msg = to_kgce(refs(), NaturalGas, Unit::CubicMetre, M, Equivalent, 2025, None).unwrap_err().to_string();
    assert!(msg.contains("NaturalGas in m3") && msg.contains("Nm3"), "{msg}");
}

#[test]
fn every_meter_unit_converts_except_rates_and_gases_at_working_conditions() {
    let gases = [NaturalGas, CompressedAir, Oxygen, Nitrogen];
    for kind in EnergyKind::ALL {
        for unit in kind.allowed_units() {
            let r = to_kgce(refs(), kind, *unit, M, Equivalent, 2025, None);
            let refused = unit.is_rate() || (*unit == Unit::CubicMetre && gases.contains(&kind));
            assert_eq!(r.is_err(), refused, "{kind:?} in {}: {r:?}", unit.symbol());
        }
    }
}

#[test]
fn one_rounding_half_to_even() {
    let mut half = refs().clone();
    half.coal.iter_mut().find(|f| f.kind == RawCoal).unwrap().coefficient = dec("0.5");
    let conv = |a| to_kgce(&half, RawCoal, Unit::Kilogram, a, Equivalent, 2025, None).unwrap().kgce_micros;
    assert_eq!([conv(1), conv(3), conv(5), conv(-1), conv(-3)], [0, 2, 2, 0, -2]);
    // 1 micro-kWh × 0.1229 = 0.1229 micro-kgce → 0; 5 → 0.6145 → 1.
    assert_eq!(kgce(Electricity, Unit::KilowattHour, 1), 0);
    assert_eq!(kgce(Electricity, Unit::KilowattHour, 5), 1);
    assert_eq!(kgce(Electricity, Unit::KilowattHour, -5), -1);
}

#[test]
fn comprehensive_and_per_unit_product() {
    let parts = [(Electricity, 122_900_000), (NaturalGas, 12_143_000_000), (Water, 857_000), (CompressedAir, 40_000)];
    assert_eq!(comprehensive(&parts, 0), 12_266_797_000);
    assert_eq!(comprehensive(&parts, 2_797_000), 12_264_000_000);
    assert_eq!(comprehensive(&[], 5), -5);
    assert_eq!(comprehensive(&[(Heat, i64::MAX), (Heat, i64::MAX)], 0), i64::MAX);
    // 1 000 kgce over 200 t of product → 5 kgce/t.
    assert_eq!(unit_product(1_000 * M, 200 * M), Some(5 * M));
    assert_eq!(unit_product(1_000 * M, 3 * M), Some(333_333_333));
    assert_eq!(unit_product(2 * M, 3 * M), Some(666_667));
    assert_eq!(unit_product(1, 2_000_000), Some(0)); // 0.5 micro → 0 (half to even)
    assert_eq!(unit_product(3, 2_000_000), Some(2)); // 1.5 → 2
    assert_eq!(unit_product(1_000 * M, 0), None);
    assert_eq!(unit_product(1_000 * M, -1), None);
    assert_eq!(unit_product(i64::MAX, 1), None);
}
