//! Data-quality indices against the rules: completeness ≥ 90 %, daily vs monthly deviation ≤ 5 %,
//! regional sums.

use proptest::prelude::*;
use trustmeter_energy::calendar::{DAY_MS, HOUR_MS, QUARTER_MS, day_start_ms, parse_day};
use trustmeter_energy::quality::*;

const M: i64 = 1_000_000;

fn counts(expected: u64, received: u64) -> QualityCounts {
    QualityCounts {
        expected_points: expected,
        received_points: received,
        on_time_points: received,
        ..Default::default()
    }
}

fn consistency(daily: i64, monthly: i64) -> QualityCounts {
    QualityCounts { daily_sum: Some(daily), monthly_report: Some(monthly), ..Default::default() }
}

#[test]
fn expected_points_on_the_local_grid() {
    let d = day_start_ms(parse_day("2026-11-21").unwrap());
    assert_eq!(expected_points(QUARTER_MS, d, d + DAY_MS), 96);
    assert_eq!(expected_points(HOUR_MS, d, d + DAY_MS), 24); // an hourly item needs 24 a day
    assert_eq!(expected_points(30 * 60_000, d, d + DAY_MS), 48);
    // [00:05, 01:05): 00:15, 00:30, 00:45, 01:00.
    assert_eq!(expected_points(QUARTER_MS, d + 5 * 60_000, d + HOUR_MS + 5 * 60_000), 4);
    // [00:00, 00:00:00.001) holds the 00:00 slot; (23:45:00.001, 24:00) none.
    assert_eq!(expected_points(QUARTER_MS, d, d + 1), 1);
    assert_eq!(expected_points(QUARTER_MS, d - QUARTER_MS + 1, d), 0);
    let feb = day_start_ms(parse_day("2024-02-01").unwrap());
    let mar = day_start_ms(parse_day("2024-03-01").unwrap());
    assert_eq!(expected_points(QUARTER_MS, feb, mar), 29 * 96);
    assert_eq!(expected_points(QUARTER_MS, d, d), 0);
    assert_eq!(expected_points(QUARTER_MS, d + 1, d), 0);
    assert_eq!(expected_points(0, d, d + DAY_MS), 0);
    assert_eq!(expected_points(-QUARTER_MS, d, d + DAY_MS), 0);
    // A 7-minute grid counts from local midnight 1970-01-01; before 1970 too.
    assert_eq!(expected_points(7 * 60_000, day_start_ms(0), day_start_ms(0) + 15 * 60_000), 3);
    assert_eq!(expected_points(7 * 60_000, day_start_ms(0) - 15 * 60_000, day_start_ms(0)), 2);
    assert_eq!(expected_points(1, i64::MIN, i64::MAX), u64::MAX);
}

#[test]
fn completeness_89_9_fails_90_passes() {
    let q = index(&counts(1_000, 899));
    assert_eq!((q.completeness_bp, q.completeness_ok), (8_990, false));
    let q = index(&counts(1_000, 900));
    assert_eq!((q.completeness_bp, q.completeness_ok), (9_000, true));
    // 89.995 % is floored to 8 999 bp, and fails: the flag and the bp always agree.
    let q = index(&counts(100_000, 89_995));
    assert_eq!((q.completeness_bp, q.completeness_ok), (8_999, false));
    // 86 of 96 daily points: 89.58 %, fails; 87 of 96: 90.625 %, passes.
    assert!(!index(&counts(96, 86)).completeness_ok);
    assert_eq!(index(&counts(96, 87)).completeness_bp, 9_062);
    assert!(index(&counts(96, 87)).completeness_ok);
    // Received above expected is capped; nothing expected is complete.
    assert_eq!(index(&counts(1_000, 1_200)).completeness_bp, 10_000);
    assert_eq!(index(&counts(0, 0)).completeness_bp, 10_000);
    assert_eq!(index(&counts(0, 5)).completeness_bp, 10_000);
    assert_eq!(index(&counts(96, 0)).completeness_bp, 0);
}

#[test]
fn deviation_5_passes_5_01_fails() {
    // Monthly report 1 000 kWh.
    let q = index(&consistency(1_050 * M, 1_000 * M));
    assert_eq!((q.deviation_bp, q.deviation_ok), (Some(500), Some(true)));
    let q = index(&consistency(950 * M, 1_000 * M));
    assert_eq!((q.deviation_bp, q.deviation_ok), (Some(500), Some(true)));
    let q = index(&consistency(1_050_100_000, 1_000 * M)); // 5.01 %
    assert_eq!((q.deviation_bp, q.deviation_ok), (Some(501), Some(false)));
    // A micro-unit over 5 % is rounded up to 501 bp: fails.
    let q = index(&consistency(1_050 * M + 1, 1_000 * M));
    assert_eq!((q.deviation_bp, q.deviation_ok), (Some(501), Some(false)));
    assert_eq!(index(&consistency(M, M)).deviation_bp, Some(0));
    assert_eq!(index(&consistency(0, 0)).deviation_bp, Some(0));
    assert_eq!(index(&consistency(1, 0)).deviation_bp, Some(u32::MAX));
    assert_eq!(index(&consistency(3 * M, M)).deviation_bp, Some(20_000));
    assert_eq!(index(&consistency(i64::MAX, 1)).deviation_bp, Some(u32::MAX));
    // (2^64 − 1) / (2^63 − 1) is a hair above 2: ceiled to 20 001 bp.
    assert_eq!(index(&consistency(i64::MIN, i64::MAX)).deviation_bp, Some(20_001));
    // Unknown unless both are present.
    let only_daily = QualityCounts { daily_sum: Some(M), ..Default::default() };
    assert_eq!((index(&only_daily).deviation_bp, index(&only_daily).deviation_ok), (None, None));
}

#[test]
fn timeliness_accuracy_composite() {
    let c = QualityCounts {
        expected_points: 1_000,
        received_points: 900,
        on_time_points: 850,
        meters: 10,
        meters_in_calibration: 9,
        daily_sum: Some(1_050 * M),
        monthly_report: Some(1_000 * M),
    };
    let q = index(&c);
    assert_eq!(q.completeness_bp, 9_000);
    assert_eq!(q.timeliness_bp, 9_444); // 850 / 900 = 94.44 %
    assert_eq!(q.accuracy_bp, 9_000);
    // (40 × 9 000 + 20 × 9 444 + 20 × 9 000 + 20 × (10 000 − 500)) / 100 = 9 188.8 → 9 188.
    assert_eq!(q.composite_bp, 9_188);
    // Without the consistency pair: (40 × 9 000 + 20 × 9 444 + 20 × 9 000) / 80 = 9 111.
    let q = index(&QualityCounts { monthly_report: None, ..c });
    assert_eq!(q.composite_bp, 9_111);
    // A deviation of 100 % or more contributes 0.
    let q = index(&QualityCounts { daily_sum: Some(5_000 * M), ..c });
    assert_eq!(q.composite_bp, (40 * 9_000 + 20 * 9_444 + 20 * 9_000) / 100);
    // Caps: on-time above received, calibrated above meters.
    let over = QualityCounts { on_time_points: 5_000, meters_in_calibration: 50, ..c };
    assert_eq!((index(&over).timeliness_bp, index(&over).accuracy_bp), (10_000, 10_000));
    // Nothing to measure: perfect.
    let q = index(&QualityCounts::default());
    assert_eq!(
        q,
        QualityIndex {
            completeness_bp: 10_000,
            completeness_ok: true,
            timeliness_bp: 10_000,
            accuracy_bp: 10_000,
            deviation_bp: None,
            deviation_ok: None,
            composite_bp: 10_000,
        }
    );
}

#[test]
fn regional_sums() {
    let a = QualityCounts {
        expected_points: 96,
        received_points: 96,
        on_time_points: 90,
        meters: 10,
        meters_in_calibration: 10,
        daily_sum: Some(100 * M),
        monthly_report: Some(102 * M),
    };
    // B reports daily data but no monthly report: its pair is left out of the region's.
    let b = QualityCounts {
        expected_points: 96,
        received_points: 80,
        on_time_points: 80,
        meters: 5,
        meters_in_calibration: 4,
        daily_sum: Some(50 * M),
        monthly_report: None,
    };
    // C sent more points than required: the surplus does not make up for B's shortfall.
    let c = QualityCounts {
        expected_points: 96,
        received_points: 120,
        on_time_points: 120,
        meters: 1,
        meters_in_calibration: 0,
        daily_sum: Some(10 * M),
        monthly_report: Some(10 * M),
    };
    let region = a + b + c;
    assert_eq!(
        region,
        QualityCounts {
            expected_points: 288,
            received_points: 272,
            on_time_points: 266,
            meters: 16,
            meters_in_calibration: 14,
            daily_sum: Some(110 * M),
            monthly_report: Some(112 * M),
        }
    );
    let q = index(&region);
    assert_eq!(q.completeness_bp, 9_444); // 272 / 288
    assert!(q.completeness_ok);
    assert_eq!(q.timeliness_bp, 9_779); // 266 / 272 = 97.79 %
    assert_eq!(q.accuracy_bp, 8_750); // 14 / 16
    assert_eq!(q.deviation_bp, Some(179)); // 2 / 112 = 1.786 % → 179 bp (ceil)
    assert_eq!(q.deviation_ok, Some(true));
    // Order and grouping do not matter; Sum agrees; the zero is neutral.
    assert_eq!(c + a + b, region);
    assert_eq!(a + (b + c), region);
    assert_eq!([a, b, c].into_iter().sum::<QualityCounts>(), region);
    assert_eq!(index(&(c + QualityCounts::default())), index(&c));
    // Region of one enterprise below 90 % and one above.
    let low = counts(1_000, 800);
    let high = counts(1_000, 1_000);
    assert_eq!(index(&(low + high)).completeness_bp, 9_000);
    assert!(index(&(low + high)).completeness_ok);
    // Only partial pairs: no consistency for the region.
    let d = QualityCounts { daily_sum: Some(M), ..Default::default() };
    let m = QualityCounts { monthly_report: Some(M), ..Default::default() };
    assert_eq!(((d + m).daily_sum, (d + m).monthly_report), (None, None));
}

#[test]
fn serde_round_trip() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct W {
        counts: QualityCounts,
        index: QualityIndex,
    }
    let counts = QualityCounts {
        expected_points: 96,
        received_points: 90,
        on_time_points: 88,
        meters: 3,
        meters_in_calibration: 3,
        daily_sum: Some(12 * M),
        monthly_report: None,
    };
    let w = W { counts, index: index(&counts) };
    let text = toml::to_string(&w).unwrap();
    assert!(text.contains("completeness_bp = 9375"), "{text}");
    assert_eq!(toml::from_str::<W>(&text).unwrap(), w);
}

fn any_counts() -> impl Strategy<Value = QualityCounts> {
    (0u64..10_000, 0u64..12_000, 0u64..12_000, 0u32..100, 0u32..120, prop::option::of(-1i64 << 50..1i64 << 50))
        .prop_flat_map(|(e, r, o, m, mc, d)| (Just((e, r, o, m, mc, d)), prop::option::of(-1i64 << 50..1i64 << 50)))
        .prop_map(|((e, r, o, m, mc, d), mr)| QualityCounts {
            expected_points: e,
            received_points: r,
            on_time_points: o,
            meters: m,
            meters_in_calibration: mc,
            daily_sum: d,
            monthly_report: mr,
        })
}

proptest! {
    #[test]
    fn sums_are_associative_and_commutative(a in any_counts(), b in any_counts(), c in any_counts()) {
        prop_assert_eq!((a + b) + c, a + (b + c));
        prop_assert_eq!(a + b, b + a);
        prop_assert_eq!(index(&(a + QualityCounts::default())), index(&a));
        let q = index(&(a + b));
        prop_assert!(q.completeness_bp <= 10_000 && q.timeliness_bp <= 10_000 && q.accuracy_bp <= 10_000);
        prop_assert!(q.composite_bp <= 10_000);
        // The flag is exact: received (capped) / expected ≥ 90 %.
        let s = (a + b).normalized();
        prop_assert_eq!(q.completeness_ok, s.expected_points == 0 || s.received_points * 10 >= s.expected_points * 9);
    }
}
