//! Property tests: the conversion equals `round_half_even(amount × coefficient)` computed another
//! way (decimal-string long multiplication), and agrees with f64 within 1 micro for moderate amounts.

use proptest::prelude::*;
use trustmeter_energy::coal::{ElectricityBasis, MeasuredHeatingValue, apply_coefficient, to_kgce};
use trustmeter_energy::reference::{Decimal, LATEST, builtin};
use trustmeter_types::{EnergyKind, Unit};

use EnergyKind::*;

/// kgce per input unit, written out by hand from the data (row coefficient × unit ratio × density).
const CASES: &[(EnergyKind, Unit, &str)] = &[
    (Electricity, Unit::KilowattHour, "0.1229"),
    (Electricity, Unit::MegawattHour, "122.9"),
    (Heat, Unit::Gigajoule, "34.12"),
    (Heat, Unit::Megajoule, "0.03412"),
    (Steam, Unit::Tonne, "94.1"),
    (Steam, Unit::Kilogram, "0.0941"),
    (Steam, Unit::Gigajoule, "34.12"),
    (RawCoal, Unit::Tonne, "714.3"),
    (Coke, Unit::Kilogram, "0.9714"),
    (Diesel, Unit::Litre, "1.223964"),   // 0.840 × 1.4571
    (Gasoline, Unit::Litre, "1.066765"), // 0.725 × 1.4714
    (Kerosene, Unit::Litre, "1.17712"),  // 0.800 × 1.4714
    (FuelOil, Unit::Litre, "1.35717"),   // 0.950 × 1.4286
    (Lpg, Unit::Tonne, "1714.3"),
    (Lng, Unit::Kilogram, "1.7572"),
    (NaturalGas, Unit::NormalCubicMetre, "1.2143"),
    (Water, Unit::CubicMetre, "0.0857"),
    (CompressedAir, Unit::NormalCubicMetre, "0.04"),
    (Oxygen, Unit::NormalCubicMetre, "0.4"),
    (Nitrogen, Unit::NormalCubicMetre, "0.4"),
];

/// Decimal digits of `s` (no sign) and its number of decimal places.
fn digits(s: &str) -> (Vec<u8>, usize) {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    (int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect(), frac.len())
}

/// Schoolbook product of two digit strings (most significant first).
fn long_mul(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut acc = vec![0u32; a.len() + b.len()];
    for (i, x) in a.iter().enumerate().rev() {
        for (j, y) in b.iter().enumerate().rev() {
            acc[i + j + 1] += u32::from(*x) * u32::from(*y);
        }
    }
    for k in (1..acc.len()).rev() {
        let carry = acc[k] / 10;
        acc[k] %= 10;
        acc[k - 1] += carry;
    }
    acc.into_iter().map(|d| d as u8).collect()
}

/// round_half_even(amount_micros × coefficient), by digit strings: the product has
/// `coef_scale` extra decimal places over micro-units.
fn independent(amount_micros: i64, coefficient: &str) -> i64 {
    i64::try_from(independent_wide(amount_micros, coefficient)).unwrap()
}

/// As [`independent`], without the `i64` bound on the result.
fn independent_wide(amount_micros: i64, coefficient: &str) -> i128 {
    let (a, _) = digits(&amount_micros.unsigned_abs().to_string());
    let (c, scale) = digits(coefficient);
    let p = long_mul(&a, &c);
    let (keep, drop) = p.split_at(p.len() - scale);
    let mut q: i128 = keep.iter().fold(0, |n, d| n * 10 + i128::from(*d));
    let first = drop.first().copied().unwrap_or(0);
    let rest_nonzero = drop.iter().skip(1).any(|d| *d != 0);
    if first > 5 || (first == 5 && (rest_nonzero || q % 2 == 1)) {
        q += 1;
    }
    if amount_micros < 0 { -q } else { q }
}

fn dec(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn conversion_is_the_exactly_rounded_product(case in 0..CASES.len(), amount in -(1i64 << 52)..(1i64 << 52)) {
        let (kind, unit, coef) = CASES[case];
        let refs = builtin(LATEST).unwrap();
        let c = to_kgce(refs, kind, unit, amount, ElectricityBasis::Equivalent, 2025, None).unwrap();
        prop_assert_eq!(c.coefficient.value_cmp(&dec(coef)), std::cmp::Ordering::Equal, "{:?} {}", kind, c.coefficient);
        prop_assert_eq!(c.kgce_micros, independent(amount, coef));
        // Symmetric rounding: −a converts to −convert(a).
        let neg = to_kgce(refs, kind, unit, -amount, ElectricityBasis::Equivalent, 2025, None).unwrap();
        prop_assert_eq!(neg.kgce_micros, -c.kgce_micros);
    }

    #[test]
    fn a_coefficient_looked_up_once_converts_like_the_full_conversion(
        case in 0..CASES.len(), amount in -(1i64 << 52)..(1i64 << 52), equal_value in any::<bool>(),
    ) {
        let (kind, unit, _) = CASES[case];
        let basis = if equal_value { ElectricityBasis::EqualValue } else { ElectricityBasis::Equivalent };
        let refs = builtin(LATEST).unwrap();
        let Ok(once) = to_kgce(refs, kind, unit, 0, basis, 2025, None) else {
            // No equal value for this unit: the full conversion refuses it too.
            prop_assert!(to_kgce(refs, kind, unit, amount, basis, 2025, None).is_err());
            return Ok(());
        };
        let full = to_kgce(refs, kind, unit, amount, basis, 2025, None).unwrap();
        prop_assert_eq!(apply_coefficient(amount, once.coefficient).unwrap(), full.kgce_micros);
    }

    #[test]
    fn conversion_agrees_with_f64_for_moderate_amounts(case in 0..CASES.len(), amount in -(1i64 << 40)..(1i64 << 40)) {
        let (kind, unit, coef) = CASES[case];
        let refs = builtin(LATEST).unwrap();
        let c = to_kgce(refs, kind, unit, amount, ElectricityBasis::Equivalent, 2025, None).unwrap();
        let f = amount as f64 * coef.parse::<f64>().unwrap();
        prop_assert!((c.kgce_micros as f64 - f).abs() <= 1.0, "{} vs {}", c.kgce_micros, f);
    }

    #[test]
    fn conversion_is_additive_within_one_micro(case in 0..CASES.len(), a in 0i64..(1i64 << 50), b in 0i64..(1i64 << 50)) {
        let (kind, unit, _) = CASES[case];
        let refs = builtin(LATEST).unwrap();
        let k = |x| to_kgce(refs, kind, unit, x, ElectricityBasis::Equivalent, 2025, None).unwrap().kgce_micros;
        prop_assert!((k(a + b) - k(a) - k(b)).abs() <= 1);
    }

    #[test]
    fn measured_lhv_agrees_with_f64(amount in 0i64..(1i64 << 40), lhv_kj in 1u32..60_000) {
        let refs = builtin(LATEST).unwrap();
        let m = MeasuredHeatingValue { kj_per_unit: Decimal::new(i128::from(lhv_kj), 0) };
        let c = to_kgce(refs, RawCoal, Unit::Kilogram, amount, ElectricityBasis::Equivalent, 2025, Some(&m)).unwrap();
        let f = amount as f64 * f64::from(lhv_kj) / 29_307.6;
        prop_assert!((c.kgce_micros as f64 - f).abs() <= 1.0, "{} vs {}", c.kgce_micros, f);
    }

    #[test]
    fn decimal_display_round_trips(mantissa in any::<i64>(), scale in 0u32..=Decimal::MAX_SCALE) {
        let d = Decimal::new(i128::from(mantissa), scale);
        let text = d.to_string();
        prop_assert_eq!(Decimal::parse(&text).unwrap(), d);
    }

    #[test]
    fn decimal_micros_round_half_even(mantissa in -(1i64 << 50)..(1i64 << 50), scale in 0u32..=12) {
        let d = Decimal::new(i128::from(mantissa), scale);
        let text = d.to_string();
        // The independent path: 1 unit (10⁶ micro) × decimal, rounded by digit strings to micro-units.
        let expect = independent_wide(if mantissa < 0 { -1_000_000 } else { 1_000_000 }, text.trim_start_matches('-'));
        prop_assert_eq!(d.to_micros(), i64::try_from(expect).ok());
    }
}

#[test]
fn the_independent_path_rounds_half_to_even() {
    assert_eq!(independent(5, "0.1"), 0); // 0.5 → 0
    assert_eq!(independent(15, "0.1"), 2); // 1.5 → 2
    assert_eq!(independent(25, "0.1"), 2); // 2.5 → 2
    assert_eq!(independent(-15, "0.1"), -2);
    assert_eq!(independent(1_000_000_000, "0.1229"), 122_900_000);
}
